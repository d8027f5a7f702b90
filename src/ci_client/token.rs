//! `baton ci token`: a new random API token, shown once, and the `[[ci.tokens]]` snippet that
//! holds only its SHA-256, so Baton's config file never contains a secret.

use std::process::ExitCode;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

use super::Failure;

/// Every token starts with this, so secret scanners and people recognise one.
const PREFIX: &str = "baton_";

/// Prints a new token (stdout line 1), then the config snippet; notes go to stderr.
pub fn print_new(name: &str, envs: &str) -> Result<ExitCode, Failure> {
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !name_ok {
        return Err(Failure::usage(format!(
            "`{name}` cannot name a token: use letters, digits, `.`, `_` or `-`"
        )));
    }
    let envs: Vec<&str> = envs
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    if envs.is_empty() {
        return Err(Failure::usage(
            "name the envs the token may touch, like --envs 'staging-*,prod'",
        ));
    }
    let token = new_token();
    eprintln!("baton: a new API token for ci:{name}; it is shown only this once. Give it to the pipeline as BATON_TOKEN:");
    println!("{token}");
    eprintln!("baton: add this to Baton's config (it holds only the hash):");
    println!();
    print!("{}", snippet(name, &sha256_hex(&token), &envs));
    Ok(ExitCode::SUCCESS)
}

/// `baton_` and 32 random bytes from the OS, URL-safe base64 without padding.
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Lowercase hex SHA-256 of the whole token, prefix included, as `[[ci.tokens]] sha256` holds it:
/// the core's one digest, so a token made here always matches the server's check.
pub fn sha256_hex(token: &str) -> String {
    baton_commands::sha256_hex(token.as_bytes())
}

fn snippet(name: &str, sha256: &str, envs: &[&str]) -> String {
    // A JSON string is a valid TOML basic string for everything a name or glob can hold.
    let quoted: Vec<String> = envs
        .iter()
        .map(|e| serde_json::Value::from(*e).to_string())
        .collect();
    format!(
        "[[ci.tokens]]\nname = \"{name}\"\nsha256 = \"{sha256}\"\nenvs = [{}]\n",
        quoted.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_token_is_prefixed_url_safe_and_different_each_time() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        let body = a.strip_prefix(PREFIX).expect("prefixed");
        assert_eq!(body.len(), 43, "32 bytes in unpadded base64");
        assert!(body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn the_snippet_holds_the_hash_and_the_envs() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            snippet("deploy", "00ff", &["staging-*", "prod"]),
            "[[ci.tokens]]\nname = \"deploy\"\nsha256 = \"00ff\"\nenvs = [\"staging-*\", \"prod\"]\n"
        );
    }
}
