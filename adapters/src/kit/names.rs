//! Display names: what a platform's payload calls a person, cleaned once for every platform.

use baton_commands::domain::clean_text;

/// The first of `candidates` that is still a name once cleaned ([`clean_text`]: control and
/// direction-changing characters out, whitespace trimmed), cut to `max` characters; `None` when
/// none is, so the platform shows its nameless wording rather than an id or nothing.
pub fn display_name<'a>(
    candidates: impl IntoIterator<Item = Option<&'a str>>,
    max: usize,
) -> Option<String> {
    candidates
        .into_iter()
        .flatten()
        .map(clean_text)
        .find(|n| !n.is_empty())
        .map(|n| clip(&n, max))
}

/// At most `max` characters; a cut is marked with `…`.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_candidate_that_is_still_a_name_wins_and_long_ones_are_cut() {
        assert_eq!(
            display_name([None, Some(" \u{202e}"), Some(" jane ")], 10).as_deref(),
            Some("jane")
        );
        assert_eq!(display_name([Some("\u{7}")], 10), None);
        assert_eq!(display_name([Some("abcdef")], 4).as_deref(), Some("abc…"));
        assert_eq!(clip("ééé", 3), "ééé");
    }
}
