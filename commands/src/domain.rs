//! Domain newtypes: arguments become these at the edge, with plain-language errors, so that
//! nothing deeper in the core ever sees an unchecked string.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Longest environment or pool name accepted anywhere.
pub const MAX_NAME_LEN: usize = 64;
/// Longest reason or note kept with a lock, claim or freeze.
pub const MAX_REASON_LEN: usize = 300;

/// A client's key for a retry-safe request (`Idempotency-Key`): 1 to 200 characters of
/// `A-Z a-z 0-9 . _ : -`. A retry with the same key gets the first attempt's answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Longest key accepted.
    pub const MAX_LEN: usize = 200;

    /// Checks `raw` and says in one sentence what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
        if raw.is_empty() || raw.len() > Self::MAX_LEN || !raw.chars().all(ok) {
            return Err(format!(
                "an Idempotency-Key must be 1 to {} characters of letters, digits, `.`, `_`, `:` and `-`",
                Self::MAX_LEN
            ));
        }
        Ok(Self(raw.to_string()))
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of an environment or pool: 1 to 64 characters of `a-z A-Z 0-9 . _ -`, starting with a
/// letter or digit. Glob characters, spaces, colons and braces can never reach a Redis key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EnvName(String);

impl EnvName {
    /// Checks `raw` and says in one sentence what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let shown = preview(raw);
        if raw.is_empty() {
            return Err("an environment name cannot be empty".into());
        }
        if raw.chars().count() > MAX_NAME_LEN {
            return Err(format!(
                "`{shown}` is too long for an environment name ({} characters; at most {MAX_NAME_LEN})",
                raw.chars().count()
            ));
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(format!(
                "`{shown}` is not a valid environment name: `{}` is not allowed (use letters, digits, `.`, `_` and `-`)",
                bad.escape_default()
            ));
        }
        if !raw.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(format!(
                "`{shown}` is not a valid environment name: it must start with a letter or digit"
            ));
        }
        Ok(Self(raw.to_string()))
    }

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EnvName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<EnvName> for String {
    fn from(n: EnvName) -> String {
        n.0
    }
}

impl fmt::Display for EnvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A positive duration for a lock, claim, freeze or extension, parsed from humantime (`30m`, `2h`,
/// `1h30m`). Whole milliseconds, because that is what Redis stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ttl(Duration);

impl Ttl {
    /// Parses a humantime duration; zero is refused because a zero-length lock means nothing.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let shown = preview(raw);
        let d = humantime::parse_duration(raw).map_err(|_| {
            format!("`{shown}` is not a duration: use a duration like 30m, 2h or 1h30m")
        })?;
        Self::new(d).ok_or_else(|| {
            format!("`{shown}` is too short: use a duration of at least one second, like 30m or 2h")
        })
    }

    /// A Ttl from a duration of at least one second.
    pub fn new(d: Duration) -> Option<Self> {
        (d >= Duration::from_secs(1)).then_some(Self(d))
    }

    /// The duration.
    pub fn duration(self) -> Duration {
        self.0
    }

    /// Whole milliseconds, as stored in Redis.
    pub fn as_millis(self) -> u64 {
        self.0.as_millis().min(u64::MAX as u128) as u64
    }
}

impl fmt::Display for Ttl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&human_duration(self.0))
    }
}

/// Who is acting: a platform identity such as `slack:U024BE7LH`, `discord:80351110224678912`,
/// `ci:github-deploy` or `console:alice`. Roles in the config name these strings.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    /// The identity roles match, `platform:id`.
    pub id: String,
    /// How to show the actor to people (a display name, or a mention the platform renders).
    pub display: String,
    /// Extra identities the actor carries, such as Discord guild roles (`discord-role:<id>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

impl Actor {
    /// An actor whose display name is its identity.
    pub fn new(id: impl Into<String>) -> Self {
        let id = id.into();
        Self {
            display: id.clone(),
            id,
            groups: Vec::new(),
        }
    }

    /// A console user: `alice` becomes `console:alice`; a full `platform:id` is kept as given.
    pub fn console(user: &str) -> Self {
        match user.split_once(':') {
            Some((_, name)) => Self {
                id: user.to_string(),
                display: name.to_string(),
                groups: Vec::new(),
            },
            None => Self {
                id: format!("console:{user}"),
                display: user.to_string(),
                groups: Vec::new(),
            },
        }
    }
}

/// A secret (signing secret, bot token): readable only through [`Secret::expose`], and shown as
/// `[redacted]` by `Debug` and `Display`, so no log line or error can carry it by accident.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that needs it (signing, an Authorization header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// This machine's clock in Unix ms, for replies made without asking Redis (help, refusals). The
/// one such helper: every state change takes Redis' own clock instead.
pub fn wall_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// A fresh random token for a lock or claim: 128 bits, hex.
pub fn new_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Renders a duration the way people say it: `1h 30m`, `45s`, `2d 3h` (seconds dropped past an hour).
pub fn human_duration(d: Duration) -> String {
    let secs = (d.as_millis() as u64).saturating_add(500) / 1000; // nearest second
    let (days, hours, mins, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let parts = [
        (days, "d"),
        (hours, "h"),
        (mins, "m"),
        (if secs >= 3600 { 0 } else { s }, "s"),
    ];
    let out: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if out.is_empty() {
        "0s".into()
    } else {
        out.join(" ")
    }
}

/// Free text shown to other people: control and bidirectional-override characters removed, so a
/// reason can neither break a message's layout nor disguise what it says.
pub fn clean_text(raw: &str) -> String {
    raw.chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect::<String>()
        .trim()
        .to_string()
}

/// A short, printable preview of user input for error messages: never echo 2 KB back to a channel.
pub fn preview(raw: &str) -> String {
    const MAX: usize = 40;
    let mut s: String = raw
        .chars()
        .take(MAX)
        .flat_map(char::escape_default)
        .collect();
    if raw.chars().count() > MAX {
        s.push('…');
    }
    s
}

/// The one "did you mean" of Baton, for verbs, envs, admin names and config keys alike: the known
/// word closest to what was typed (any case), if a typo explains it. One rule everywhere, so a
/// near miss gets the same help whether it was typed in chat or in the config file: at most two
/// edits, fewer than the word has letters (`qa` is not a typo of `xy`), closest first, ties
/// alphabetical.
pub fn did_you_mean<'a, S>(typed: &str, known: impl IntoIterator<Item = &'a S>) -> Option<&'a str>
where
    S: AsRef<str> + ?Sized + 'a,
{
    let typed = typed.to_lowercase();
    known
        .into_iter()
        .map(AsRef::as_ref)
        .map(|k| (strsim::damerau_levenshtein(&typed, &k.to_lowercase()), k))
        .filter(|(d, k)| *d <= 2 && *d < k.len())
        .min()
        .map(|(_, k)| k)
}

/// `*` matches any run of characters, `?` any one; everything else matches itself.
pub fn glob_match(glob: &str, name: &str) -> bool {
    let (g, n): (Vec<char>, Vec<char>) = (glob.chars().collect(), name.chars().collect());
    let (mut gi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == n[ni]) {
            gi += 1;
            ni += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some(gi);
            mark = ni;
            gi += 1;
        } else if let Some(s) = star {
            gi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|&c| c == '*')
}

/// A humantime duration (`30m`, `1h30m`, `500ms`), the one way durations are written in the file.
struct HumanDuration(Duration);

impl<'de> serde::Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration like \"30m\" or \"2h\"")
            }
            fn visit_str<E: serde::de::Error>(self, raw: &str) -> Result<HumanDuration, E> {
                humantime::parse_duration(raw)
                    .map(HumanDuration)
                    .map_err(|_| {
                        E::custom(format!(
                            "`{}` is not a duration: use a duration like 30m, 2h or 1h30m",
                            preview(raw)
                        ))
                    })
            }
        }
        d.deserialize_str(V)
    }
}

pub(crate) fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    <HumanDuration as serde::Deserialize>::deserialize(d).map(|h| h.0)
}

pub(crate) fn opt_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    <Option<HumanDuration> as serde::Deserialize>::deserialize(d).map(|h| h.map(|h| h.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_reject_what_could_reach_a_key_pattern() {
        for (bad, why) in [
            ("", "empty"),
            ("prod*", "glob star"),
            ("st?ging", "glob question mark"),
            ("a[b]", "glob class"),
            ("two words", "space"),
            ("a:b", "colon"),
            ("{tag}", "hash tag brace"),
            ("-prod", "leading dash"),
            (&"x".repeat(2048), "2 KB"),
        ] {
            assert!(EnvName::parse(bad).is_err(), "{why} should be refused");
        }
        for good in ["prod", "staging-2", "eu.west_1", "7"] {
            assert_eq!(EnvName::parse(good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn long_input_is_previewed_not_echoed() {
        let err = EnvName::parse(&"y".repeat(2048)).unwrap_err();
        assert!(err.len() < 200, "{err}");
        assert!(err.contains("2048 characters"));
    }

    #[test]
    fn ttl_parses_humantime_and_refuses_zero_and_garbage() {
        assert_eq!(Ttl::parse("1h30m").unwrap().as_millis(), 5_400_000);
        assert!(Ttl::parse("0s").unwrap_err().contains("too short"));
        assert!(Ttl::parse("3x").unwrap_err().contains("like 30m"));
        assert!(Ttl::parse("-5m").is_err());
    }

    #[test]
    fn durations_read_like_people_say_them() {
        assert_eq!(human_duration(Duration::from_secs(5400)), "1h 30m");
        assert_eq!(human_duration(Duration::from_secs(45)), "45s");
        assert_eq!(human_duration(Duration::from_secs(90_000)), "1d 1h");
        assert_eq!(human_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn did_you_mean_suggests_only_what_a_typo_explains() {
        let known = ["lock", "unlock", "prod", "qa", "staging-2"];
        for (typed, expected) in [
            ("lokc", Some("lock")),
            ("UNLCK", Some("unlock")),
            ("prdo", Some("prod")),
            ("staging2", Some("staging-2")),
            ("xy", None),
            ("deploy", None),
        ] {
            assert_eq!(did_you_mean(typed, &known), expected, "{typed}");
        }
        assert_eq!(
            did_you_mean("ab", &["ac", "ab1"]),
            Some("ab1"),
            "ties go alphabetically"
        );
    }
}
