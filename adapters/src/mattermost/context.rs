//! Button contexts Baton signs itself. Mattermost does not sign the requests it makes when a
//! button is pressed: it POSTs the action's `context` back as it was posted. So every context
//! Baton writes carries an HMAC-SHA256 under a key of its own, over the command the button runs,
//! the channel it was posted in, whether only one person saw the message, the message's other
//! buttons and an expiry; a press whose context does not verify, names another channel or has
//! expired runs nothing.
//!
//! The key is `action_secret` when set, else derived from the bot token (HMAC-SHA256 of a fixed
//! label under the token), so a deployment with a bot needs no second secret, and rotating the
//! bot token retires every button already posted.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use baton_commands::config::MattermostConfig;
use baton_commands::reply::Button;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What the key is derived from the bot token with, when no `action_secret` is set.
const DERIVATION_LABEL: &[u8] = b"baton mattermost button contexts v1";

/// Signs and checks button contexts.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
    ttl: Duration,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer {{ key: [redacted], ttl: {:?} }}", self.ttl)
    }
}

/// The signed part of a context, serialized in this order for the MAC.
#[derive(Serialize)]
struct Signed<'a> {
    v: u8,
    command: &'a str,
    channel: &'a str,
    private: bool,
    buttons: &'a [Sibling],
    expires: u64,
}

/// A button of the same message, so a press can keep the buttons that still apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sibling {
    /// What it says.
    pub label: String,
    /// What it runs.
    pub command: String,
    /// Whether it is the main action.
    pub primary: bool,
}

/// A context as it comes back from Mattermost.
#[derive(Debug, Deserialize)]
struct Context {
    command: String,
    channel: String,
    private: bool,
    buttons: Vec<Sibling>,
    expires: u64,
    sig: String,
}

/// A press whose context Baton signed, for the channel it came from, in time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The command the button runs.
    pub command: String,
    /// Whether the message it was on was seen by one person only.
    pub private: bool,
    /// The message's buttons.
    pub buttons: Vec<Button>,
}

/// Why a press runs nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No context, a context of another shape, or a signature that does not match.
    NotSigned,
    /// Signed for a message in another channel.
    OtherChannel,
    /// Past its expiry; the command it would have run.
    Expired(String),
}

impl Refusal {
    /// The sentence the presser reads (markdown), with how to type the command for `Expired`
    /// after `invoke` (`/baton`).
    pub fn sentence(&self, invoke: &str) -> String {
        match self {
            Refusal::NotSigned => {
                "This button was not made by this Baton, so nothing was run.".into()
            }
            Refusal::OtherChannel => {
                "This button belongs to a message in another channel, so nothing was run.".into()
            }
            Refusal::Expired(command) => {
                let command = super::render::code(&format!("{invoke} {command}"));
                format!("This button has expired, so nothing was run: type {command} instead.")
            }
        }
    }
}

impl Signer {
    /// A signer with `key`, whose contexts last `ttl`.
    pub fn new(key: &[u8], ttl: Duration) -> Self {
        Self {
            key: key.to_vec(),
            ttl,
        }
    }

    /// The signer `[mattermost]` describes: `action_secret`, else a key derived from the bot
    /// token; `None` when there is neither (and then replies carry no buttons).
    pub fn from_config(config: &MattermostConfig) -> Option<Self> {
        let key = match (&config.action_secret, &config.bot_token) {
            (Some(secret), _) => secret.expose().as_bytes().to_vec(),
            (None, Some(token)) => mac(token.expose().as_bytes(), DERIVATION_LABEL).to_vec(),
            (None, None) => return None,
        };
        Some(Self::new(&key, config.button_ttl))
    }

    /// The context of a button running `command`, on a message in `channel` (`private` when
    /// only one person sees it) among `buttons`, valid until `now_ms` + the signer's lifetime.
    pub fn context(
        &self,
        command: &str,
        channel: &str,
        private: bool,
        buttons: &[Button],
        now_ms: u64,
    ) -> Value {
        let expires = (now_ms / 1000).saturating_add(self.ttl.as_secs());
        self.context_until(command, channel, private, buttons, expires)
    }

    /// The same with an explicit expiry (Unix seconds); tests sign expired contexts with it.
    pub fn context_until(
        &self,
        command: &str,
        channel: &str,
        private: bool,
        buttons: &[Button],
        expires: u64,
    ) -> Value {
        let buttons: Vec<Sibling> = buttons
            .iter()
            .map(|b| Sibling {
                label: b.label.clone(),
                command: b.command.clone(),
                primary: b.primary,
            })
            .collect();
        let signed = Signed {
            v: 1,
            command,
            channel,
            private,
            buttons: &buttons,
            expires,
        };
        let sig = URL_SAFE_NO_PAD.encode(self.sign(&signed));
        serde_json::json!({
            "command": command,
            "channel": channel,
            "private": private,
            "buttons": buttons,
            "expires": expires,
            "sig": sig,
        })
    }

    /// The press a context stands for, if Baton signed it for `channel` and it has not expired
    /// at `now_ms`.
    pub fn verify(&self, context: &Value, channel: &str, now_ms: u64) -> Result<Verified, Refusal> {
        let ctx = Context::deserialize(context).map_err(|_| Refusal::NotSigned)?;
        let sig = URL_SAFE_NO_PAD
            .decode(ctx.sig.as_bytes())
            .map_err(|_| Refusal::NotSigned)?;
        let signed = Signed {
            v: 1,
            command: &ctx.command,
            channel: &ctx.channel,
            private: ctx.private,
            buttons: &ctx.buttons,
            expires: ctx.expires,
        };
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(&serde_json::to_vec(&signed).unwrap_or_default());
        mac.verify_slice(&sig).map_err(|_| Refusal::NotSigned)?;
        if ctx.channel != channel {
            return Err(Refusal::OtherChannel);
        }
        if now_ms / 1000 >= ctx.expires {
            return Err(Refusal::Expired(ctx.command));
        }
        Ok(Verified {
            command: ctx.command,
            private: ctx.private,
            buttons: ctx
                .buttons
                .into_iter()
                .map(|b| Button {
                    label: b.label,
                    command: b.command,
                    primary: b.primary,
                })
                .collect(),
        })
    }

    fn sign(&self, signed: &Signed<'_>) -> [u8; 32] {
        mac(&self.key, &serde_json::to_vec(signed).unwrap_or_default())
    }
}

fn mac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_711_200_000;
    const CHANNEL: &str = "4yjq9ge5k7ffx8b3dq9h3b1j8r";

    fn buttons() -> Vec<Button> {
        vec![
            Button {
                label: "Unlock".into(),
                command: "unlock prod".into(),
                primary: false,
            },
            Button {
                label: "Extend 1h".into(),
                command: "extend prod 1h".into(),
                primary: true,
            },
        ]
    }

    #[test]
    fn a_context_baton_signed_verifies_in_its_channel_until_it_expires() {
        let signer = Signer::new(b"k", Duration::from_secs(60));
        let ctx = signer.context("unlock prod", CHANNEL, true, &buttons(), NOW);
        let press = signer.verify(&ctx, CHANNEL, NOW + 59_000).unwrap();
        assert_eq!(press.command, "unlock prod");
        assert!(press.private);
        assert_eq!(press.buttons, buttons());
        assert_eq!(
            signer.verify(&ctx, CHANNEL, NOW + 60_000),
            Err(Refusal::Expired("unlock prod".into()))
        );
        assert_eq!(
            signer.verify(&ctx, "otherchannel0000000000000a", NOW),
            Err(Refusal::OtherChannel)
        );
    }

    #[test]
    fn a_changed_command_expiry_or_key_or_a_bare_command_is_not_signed() {
        let signer = Signer::new(b"k", Duration::from_secs(60));
        let ctx = signer.context("unlock prod", CHANNEL, false, &buttons(), NOW);
        let mut forged = ctx.clone();
        forged["command"] = "unlock prod --force".into();
        let mut later = ctx.clone();
        later["expires"] = (NOW / 1000 + 999_999).into();
        let mut public = ctx.clone();
        public["private"] = true.into();
        let other = Signer::new(b"other", Duration::from_secs(60));
        for (what, context, signer) in [
            ("another command", forged, &signer),
            ("a later expiry", later, &signer),
            ("another visibility", public, &signer),
            ("another key", ctx.clone(), &other),
            (
                "a bare command",
                serde_json::json!({"command": "unlock prod"}),
                &signer,
            ),
            ("nothing", Value::Null, &signer),
        ] {
            assert_eq!(
                signer.verify(&context, CHANNEL, NOW),
                Err(Refusal::NotSigned),
                "{what}"
            );
        }
    }

    #[test]
    fn the_key_is_the_action_secret_else_derived_from_the_bot_token() {
        use baton_commands::domain::Secret;
        let mut config = MattermostConfig::default();
        assert!(Signer::from_config(&config).is_none());
        config.bot_token = Some(Secret::new("bot"));
        let derived = Signer::from_config(&config).unwrap();
        assert_eq!(derived.key, mac(b"bot", DERIVATION_LABEL));
        config.action_secret = Some(Secret::new("own"));
        assert_eq!(Signer::from_config(&config).unwrap().key, b"own");
        assert!(!format!("{derived:?}").contains("bot"));
    }
}
