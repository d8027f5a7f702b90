//! Redis glob patterns from the config, checked in Rust: SCAN's `MATCH` finds candidates, and
//! this decides which of them really belong to one identity. The identity is literal; each `*`
//! and `?` of the configured pattern stays within one `:`-separated segment.

/// A limiter pattern with its identity filled in literally; `*` and `?` stay inside one
/// `:`-separated segment.
pub(super) struct Glob(Vec<Tok>);

#[derive(Debug, PartialEq)]
enum Tok {
    Lit(char),
    Star,
    One,
    Class {
        negate: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Glob {
    pub(super) fn new(before: &str, id: &str, after: &str) -> Self {
        let mut toks = parse(before);
        toks.extend(id.chars().map(Tok::Lit));
        toks.extend(parse(after));
        Self(toks)
    }

    pub(super) fn matches(&self, key: &str) -> bool {
        let chars: Vec<char> = key.chars().collect();
        matches_at(&self.0, &chars)
    }
}

fn matches_at(toks: &[Tok], s: &[char]) -> bool {
    let Some((tok, rest)) = toks.split_first() else {
        return s.is_empty();
    };
    match tok {
        Tok::Star => {
            for skip in 0..=s.len() {
                if matches_at(rest, &s[skip..]) {
                    return true;
                }
                if s.get(skip) == Some(&':') {
                    return false;
                }
            }
            false
        }
        Tok::One => s.first().is_some_and(|c| *c != ':') && matches_at(rest, &s[1..]),
        Tok::Lit(l) => s.first() == Some(l) && matches_at(rest, &s[1..]),
        Tok::Class { negate, ranges } => {
            let Some(c) = s.first() else { return false };
            let inside = ranges.iter().any(|(lo, hi)| (lo..=hi).contains(&c));
            inside != *negate && matches_at(rest, &s[1..])
        }
    }
}

/// A Redis glob from the config: `*`, `?`, `[…]` (with `^` and ranges), `\` escapes.
fn parse(glob: &str) -> Vec<Tok> {
    let chars: Vec<char> = glob.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                toks.push(Tok::Lit(chars[i + 1]));
                i += 1;
            }
            '*' => toks.push(Tok::Star),
            '?' => toks.push(Tok::One),
            '[' => match chars[i + 1..].iter().position(|c| *c == ']') {
                Some(len) => {
                    let mut body = &chars[i + 1..i + 1 + len];
                    let negate = body.first() == Some(&'^');
                    if negate {
                        body = &body[1..];
                    }
                    let mut ranges = Vec::new();
                    let mut j = 0;
                    while j < body.len() {
                        if j + 2 < body.len() && body[j + 1] == '-' {
                            ranges.push((body[j].min(body[j + 2]), body[j].max(body[j + 2])));
                            j += 3;
                        } else {
                            ranges.push((body[j], body[j]));
                            j += 1;
                        }
                    }
                    toks.push(Tok::Class { negate, ranges });
                    i += len + 1;
                }
                None => toks.push(Tok::Lit('[')),
            },
            c => toks.push(Tok::Lit(c)),
        }
        i += 1;
    }
    toks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_matches_only_its_own_window_keys() {
        let g = Glob::new("rl:login:", "a*b?[c]", ":*");
        assert!(g.matches("rl:login:a*b?[c]:1700000000"));
        assert!(!g.matches("rl:login:aXb?[c]:1"), "the id's `*` is literal");
        assert!(!g.matches("rl:login:a*bX[c]:1"), "the id's `?` is literal");
        assert!(!g.matches("rl:login:a*b?c:1"), "the id's `[c]` is literal");
        assert!(
            !g.matches("rl:login:a*b?[c]:x:1"),
            "another identity, `a*b?[c]:x`"
        );
        assert!(
            !g.matches("rl:login:a*b?[c]"),
            "the window segment is required"
        );
        let g = Glob::new("rl:[a-c]?:", "bob", "");
        assert!(g.matches("rl:b1:bob"));
        assert!(!g.matches("rl:d1:bob"));
        assert!(!g.matches("rl:b::bob"));
    }
}
