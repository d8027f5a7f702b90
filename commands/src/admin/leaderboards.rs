//! Leaderboards: sorted sets named in `[[admin.leaderboards]]`. Each view is one round trip,
//! however large the board: `top <n>` is one ZREVRANGE (or ZRANGE) WITHSCORES with n ≤ 100, and
//! `around <member>` one read-only script (rank, size and neighbours together).
//!
//! # Format
//! `admin leaderboard <board> [top <n>] [around <member>]` (with neither: the top 10)

use super::AdminDesk;
use super::{shown, unknown_name};
use crate::command::AdminArg;
use crate::config::{BoardOrder, LeaderboardConfig};
use crate::domain::wall_clock;
use crate::error::BatonError;
use crate::reply::{Reply, Table, Tone, Value};
use crate::store::admin::{Around, Entries};

/// Neighbours shown on each side of the member for `around`.
const RADIUS: usize = 5;
/// Longest member name shown.
const MEMBER_LEN: usize = 80;

impl AdminDesk {
    /// `admin leaderboard <board> [top <n>] [around <member>]`.
    pub(super) async fn admin_leaderboard(
        &self,
        board: &AdminArg,
        top: Option<usize>,
        around: Option<&AdminArg>,
    ) -> Result<Reply, BatonError> {
        let boards = &self.admin.config.leaderboards;
        let cfg = boards
            .iter()
            .find(|b| b.name.eq_ignore_ascii_case(board.as_str()))
            .ok_or_else(|| {
                let names: Vec<&str> = boards.iter().map(|b| b.name.as_str()).collect();
                unknown_name(
                    "leaderboard",
                    board,
                    &names,
                    "add [[admin.leaderboards]] to the config",
                )
            })?;
        let desc = cfg.order == BoardOrder::Desc;
        let want_top = top.is_some() || around.is_none();
        let top = want_top.then(|| top.unwrap_or(10));
        let asked = around.map(|member| (member.as_str(), RADIUS));
        let board = self.store.leaderboard(&cfg.key, desc, top, asked).await?;
        let unreadable = |e| {
            BatonError::Refused(format!(
                "leaderboard `{}` (key {}) could not be read: {e}",
                cfg.name, cfg.key
            ))
        };
        let top_rows = board.top.transpose().map_err(unreadable)?;
        let near = match (around, board.around.transpose().map_err(unreadable)?) {
            (Some(member), Some(a)) => Some((member, a)),
            _ => None,
        };
        Ok(view(cfg, top_rows, near))
    }
}

type Near<'a> = (&'a AdminArg, Around);

fn view(cfg: &LeaderboardConfig, top: Option<Entries>, near: Option<Near<'_>>) -> Reply {
    let now = wall_clock();
    let name = &cfg.name;
    let mut rows: Vec<Vec<Value>> = Vec::new();
    let mut last_rank = 0;
    let mut push = |rank: usize, member: &[u8], score: &str, marked: bool, rows: &mut Vec<_>| {
        if rank <= last_rank {
            return; // already shown by the top part
        }
        if last_rank > 0 && rank > last_rank + 1 {
            rows.push(vec![
                Value::Text("…".into()),
                Value::Text(String::new()),
                Value::Text(String::new()),
            ]);
        }
        last_rank = rank;
        let who = shown(member, MEMBER_LEN);
        rows.push(vec![
            Value::Text(format!("#{}", thousands(rank as u64))),
            Value::Text(if marked { format!("→ {who}") } else { who }),
            Value::Text(score_text(score)),
        ]);
    };
    let mut title = match &top {
        Some(entries) if entries.is_empty() => {
            format!("Leaderboard {name} is empty (key {})", cfg.key)
        }
        Some(entries) => format!("Leaderboard {name}: top {}", entries.len()),
        None => String::new(),
    };
    for (i, (member, score)) in top.iter().flatten().enumerate() {
        push(i + 1, member, score, false, &mut rows);
    }
    if let Some((
        member,
        Around {
            rank,
            size,
            first,
            entries,
        },
    )) = near
    {
        let about = if rank < 0 {
            format!(
                "{member} is not on {name} ({} members)",
                thousands(size.max(0) as u64)
            )
        } else {
            format!(
                "{member} is #{} of {} on {name}",
                thousands(rank as u64 + 1),
                thousands(size as u64)
            )
        };
        title = if title.is_empty() {
            about
        } else {
            format!("{title}; {about}")
        };
        for (i, (m, score)) in entries.iter().enumerate() {
            let r = first.max(0) as usize + i + 1;
            push(r, m, score, r as i64 == rank + 1, &mut rows);
        }
    }
    let mut reply = Reply::new(Tone::Info, title, now);
    if !rows.is_empty() {
        reply.table = Some(Table {
            headers: ["Rank", "Member", "Score"].map(String::from).to_vec(),
            rows,
        });
    }
    reply
}

/// A score as people write it: Redis 7.0 sends doubles with 17 digits (`55.329999999999998`).
fn score_text(raw: &str) -> String {
    match raw.parse::<f64>() {
        Ok(score) if score.is_finite() => score.to_string(),
        _ => raw.to_string(),
    }
}

/// `1,000,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_ranks_read_with_separators() {
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(523), "523");
        assert_eq!(thousands(4_523), "4,523");
        assert_eq!(score_text("55.329999999999998"), "55.33");
        assert_eq!(score_text("999991"), "999991");
        assert_eq!(score_text("inf"), "inf");
    }
}
