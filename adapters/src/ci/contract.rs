//! The served OpenAPI document (`GET /api/v1/openapi.json`): `src/openapi.json` with this
//! server's own configuration written in, so that it says exactly what this server accepts.
//! Limits that are configuration (`ci.max_wait`, the envs' `max_ttl`) become the `maximum` of a
//! duration's whole seconds and the `pattern` of its text, and the configured env names become
//! the examples clients and fuzzers start from. Duration text is one number and one unit
//! ([`duration_text`]), so a pattern can bound it; the handlers apply the same bounds.

use std::time::Duration;

use baton_commands::Catalog;
use serde_json::{json, Value};

/// The longest duration any field takes, configured or not: ten years.
pub const MAX_DURATION_SECS: u64 = 10 * 365 * 86_400;

/// The units duration text takes, with their seconds.
const UNITS: [(char, u64); 4] = [('s', 1), ('m', 60), ('h', 3600), ('d', 86_400)];

/// Duration text: digits and one unit (`s`, `m`, `h`, `d`), like `"20m"`; `None` when it is not
/// that, or overflows.
pub fn duration_text(raw: &str) -> Option<Duration> {
    let unit = raw.chars().last()?;
    let (_, secs) = UNITS.iter().find(|(u, _)| *u == unit)?;
    let digits = &raw[..raw.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.trim_start_matches('0').parse().unwrap_or(0);
    if digits.trim_start_matches('0').len() > 20 {
        return None;
    }
    n.checked_mul(*secs).map(Duration::from_secs)
}

/// The JSON Schema of a duration from `min` to `max` whole seconds: whole seconds, or text that
/// [`duration_text`] reads to a value in that range (the `pattern` holds exactly those).
pub fn duration_schema(min: u64, max: u64, description: &str) -> Value {
    let max = max.min(MAX_DURATION_SECS);
    // Examples a server takes: 20 minutes, or as near as its limits allow.
    let example = 1200.clamp(min, max.max(min));
    json!({
        "description": description,
        "oneOf": [
            {"type": "string", "pattern": duration_pattern(min, max), "examples": [format!("{example}s")]},
            {"type": "integer", "minimum": min, "maximum": max, "examples": [example]},
        ],
    })
}

/// A regex that matches exactly the duration text from `min` (0 or 1) to `max` seconds.
fn duration_pattern(min: u64, max: u64) -> String {
    let mut alternatives = Vec::new();
    for (unit, secs) in UNITS {
        let most = max / secs;
        if most >= 1 {
            alternatives.push(format!("0*(?:{}){unit}", positive_up_to(most)));
        }
    }
    if min == 0 {
        alternatives.push("0+[smhd]".into());
    }
    format!("^(?:{})$", alternatives.join("|"))
}

/// A regex for the whole numbers from 1 to `n` (n ≥ 1), written without leading zeros.
fn positive_up_to(n: u64) -> String {
    let digits: Vec<u8> = n.to_string().bytes().map(|b| b - b'0').collect();
    let k = digits.len();
    let mut parts = Vec::new();
    // Every number with fewer digits.
    for len in 1..k {
        parts.push(match len {
            1 => "[1-9]".to_string(),
            _ => format!("[1-9][0-9]{{{}}}", len - 1),
        });
    }
    // Numbers with k digits below n: n's first i digits, then a smaller digit, then any.
    for i in 0..k {
        let lowest = u8::from(i == 0);
        if digits[i] > lowest {
            let prefix: String = digits[..i].iter().map(|d| char::from(b'0' + d)).collect();
            let class = match digits[i] - 1 {
                top if top == lowest => format!("{lowest}"),
                top => format!("[{lowest}-{top}]"),
            };
            let rest = match k - i - 1 {
                0 => String::new(),
                r => format!("[0-9]{{{r}}}"),
            };
            parts.push(format!("{prefix}{class}{rest}"));
        }
    }
    parts.push(n.to_string());
    parts.join("|")
}

/// The document this server serves: `template` (src/openapi.json) with the limits of `[ci]` and
/// the envs of `catalog` written in.
pub fn document(template: &str, catalog: &Catalog, max_wait: Duration) -> String {
    let mut doc: Value = serde_json::from_str(template).expect("src/openapi.json is JSON");
    let longest_ttl = catalog
        .envs()
        .iter()
        .map(|e| e.max_ttl)
        .chain(catalog.pools().iter().map(|p| p.max_ttl))
        .max()
        .unwrap_or_default();
    let schemas = &mut doc["components"]["schemas"];
    schemas["Ttl"] = duration_schema(
        1,
        longest_ttl.as_secs(),
        "How long: whole seconds, or one number and a unit (s, m, h, d) like \"20m\". At least \
         a second; at most the longest `max_ttl` of this server's envs (the maximum here). An \
         env whose own `max_ttl` is shorter refuses more than that with 400.",
    );
    schemas["Wait"] = duration_schema(
        0,
        max_wait.as_secs(),
        "How long to wait: whole seconds, or one number and a unit (s, m, h, d) like \"5m\"; \
         0 does not wait. At most this server's `ci.max_wait` (the maximum here).",
    );
    // Envs and pool members: a pool's own name is read by `GET /api/v1/envs/{env}` only.
    let names: Vec<String> = catalog.envs().iter().map(|e| e.name.to_string()).collect();
    doc["components"]["parameters"]["Env"]["examples"] = names
        .iter()
        .map(|n| (n.clone(), json!({ "value": n })))
        .collect::<serde_json::Map<_, _>>()
        .into();
    serde_json::to_string_pretty(&doc).expect("a Value serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_up_to_lists_every_number_once() {
        for n in [
            1u64,
            5,
            9,
            10,
            11,
            59,
            60,
            99,
            100,
            120,
            480,
            1000,
            28_800,
            315_360_000,
        ] {
            let pattern = format!("^(?:{})$", positive_up_to(n));
            let re = Regexish::new(&pattern);
            for v in 0..=(n + 1200).min(40_000) {
                assert_eq!(
                    re.is_match(&v.to_string()),
                    (1..=n).contains(&v),
                    "{pattern} vs {v}"
                );
            }
        }
    }

    #[test]
    fn duration_text_reads_one_number_and_a_unit() {
        let cases = [
            ("reads minutes", "20m", Some(1200)),
            ("reads leading zeros", "007s", Some(7)),
            ("reads zero", "0h", Some(0)),
            ("refuses two parts", "1h30m", None),
            ("refuses spaces", "20 m", None),
            ("refuses a bare number", "20", None),
            ("refuses a sign", "+5m", None),
            ("refuses overflow", "99999999999999999999999d", None),
        ];
        for (what, raw, secs) in cases {
            assert_eq!(duration_text(raw).map(|d| d.as_secs()), secs, "{what}");
        }
    }

    /// The subset of regex the patterns use: `^(?:a|b|…)$` with literal digits, `[x-y]` classes
    /// and `{n}` counts, matched by trying each alternative.
    struct Regexish(Vec<Vec<(u8, u8, usize)>>);

    impl Regexish {
        fn new(pattern: &str) -> Self {
            let body = pattern.trim_start_matches("^(?:").trim_end_matches(")$");
            Self(body.split('|').map(Self::atoms).collect())
        }

        fn atoms(alt: &str) -> Vec<(u8, u8, usize)> {
            let b = alt.as_bytes();
            let (mut i, mut out) = (0, Vec::new());
            while i < b.len() {
                let (lo, hi) = if b[i] == b'[' {
                    let r = (b[i + 1], b[i + 3]);
                    i += 5;
                    r
                } else {
                    i += 1;
                    (b[i - 1], b[i - 1])
                };
                let mut count = 1;
                if i < b.len() && b[i] == b'{' {
                    let end = alt[i..].find('}').unwrap() + i;
                    count = alt[i + 1..end].parse().unwrap();
                    i = end + 1;
                }
                out.push((lo, hi, count));
            }
            out
        }

        fn is_match(&self, text: &str) -> bool {
            self.0.iter().any(|alt| {
                let expanded: Vec<(u8, u8)> = alt
                    .iter()
                    .flat_map(|&(lo, hi, n)| std::iter::repeat_n((lo, hi), n))
                    .collect();
                expanded.len() == text.len()
                    && text
                        .bytes()
                        .zip(expanded)
                        .all(|(c, (lo, hi))| (lo..=hi).contains(&c))
            })
        }
    }
}
