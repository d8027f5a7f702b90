//! Fifty changes in one moment, each with a 300-character reason, announced by three instances:
//! every change appears exactly once, whole, in each of its channels on Slack and on Discord,
//! and every message is within the platform's limits.

use std::time::Duration;

use baton_commands::config::PoolConfig;
use baton_commands::domain::EnvName;
use serde_json::Value;

use super::stand_in::{shown, Post, StandIn};
use super::{quick, start, until};
use crate::support::spawn_core_with;

const DISCORD: &str = "444400000000000004";

fn reason(i: usize) -> String {
    format!("{i:02} {}", "because ".repeat(40))[..300].to_string()
}

/// Slack's documented limits: 50 blocks; a section's text 3,000 characters, a field 2,000, 10
/// fields.
fn within_slack_limits(p: &Post) -> Result<(), String> {
    let blocks = p.body["blocks"].as_array().ok_or("no blocks")?;
    if blocks.len() > 50 {
        return Err(format!("{} blocks", blocks.len()));
    }
    for b in blocks {
        let text = b["text"]["text"].as_str().unwrap_or_default();
        let fields = b["fields"].as_array().cloned().unwrap_or_default();
        let long_field = fields
            .iter()
            .any(|f| f["text"].as_str().unwrap_or("").chars().count() > 2000);
        if text.chars().count() > 3000 || fields.len() > 10 || long_field {
            return Err(format!("a block over the limits: {b}"));
        }
    }
    Ok(())
}

/// Discord's documented embed limits: title 256, description 4,096, 25 fields of 1,024, all
/// text together 6,000.
fn within_discord_limits(p: &Post) -> Result<(), String> {
    let len = |v: &Value| v.as_str().unwrap_or_default().chars().count();
    let mut total = 0;
    for e in p.body["embeds"].as_array().ok_or("no embeds")? {
        let fields = e["fields"].as_array().cloned().unwrap_or_default();
        if len(&e["title"]) > 256 || len(&e["description"]) > 4096 || fields.len() > 25 {
            return Err(format!("an embed over the limits: {e}"));
        }
        if fields
            .iter()
            .any(|f| len(&f["value"]) > 1024 || len(&f["name"]) > 256)
        {
            return Err(format!("a field over the limits: {e}"));
        }
        total += len(&e["title"]) + len(&e["description"]);
        total += fields
            .iter()
            .map(|f| len(&f["value"]) + len(&f["name"]))
            .sum::<usize>();
    }
    if total > 6000 {
        return Err(format!("{total} characters in one message"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_changes_at_once_reach_each_channel_whole_once_and_within_limits() {
    let members: Vec<EnvName> = (1..=50)
        .map(|i| EnvName::parse(&format!("load-{i:02}")).unwrap())
        .collect();
    let s = StandIn::start().await;
    let app = spawn_core_with(|c| {
        c.pools.push(PoolConfig {
            name: EnvName::parse("load").unwrap(),
            members: members.clone(),
            default_ttl: Some(Duration::from_secs(600)),
            max_ttl: Some(Duration::from_secs(3600)),
            announce: Some(vec!["slack:CLOAD".into(), format!("discord:{DISCORD}")]),
            remind_before: None,
        });
        assert_eq!(c.validate(), []);
    })
    .await;
    let mut instances = Vec::new();
    for _ in 0..3 {
        instances.push(start(&app, vec![s.slack(), s.discord()], quick()).await);
    }
    let claims = (1..=50).map(|i| {
        let baton = app.baton.clone();
        async move {
            let user = format!("slack:u{i:02}");
            let text = format!("claim load 10m {}", reason(i));
            baton
                .run_text(baton_commands::Actor::console(&user), &text)
                .await
                .unwrap_or_else(|(e, _)| panic!("{user} could not claim: {e}"))
        }
    });
    futures_util::future::join_all(claims).await;

    let claimed = |channel: &str| {
        let all = s.shown(channel).join("\n");
        (1..=50).filter(|i| all.contains(&reason(*i))).count()
    };
    let all_in = until(30, || claimed("CLOAD") == 50 && claimed(DISCORD) == 50).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        all_in,
        "Slack {}, Discord {} of 50",
        claimed("CLOAD"),
        claimed(DISCORD)
    );

    let posts = s.all();
    for p in &posts {
        let limits = match p.platform {
            "slack" => within_slack_limits(p),
            _ => within_discord_limits(p),
        };
        limits.unwrap_or_else(|e| panic!("{} message to {}: {e}", p.platform, p.channel));
    }
    for channel in ["CLOAD", DISCORD] {
        let messages: Vec<String> = posts
            .iter()
            .filter(|p| p.channel == channel && p.accepted)
            .map(shown)
            .collect();
        for i in 1..=50 {
            // The change's line (or title) and its reason, whole, in exactly one message.
            let with = messages.iter().filter(|m| m.contains(&reason(i))).count();
            assert_eq!(with, 1, "load-{i:02} on {channel} in {with} messages");
            let named = messages
                .iter()
                .map(|m| m.matches(&format!("claimed load-{i:02}")).count())
                .sum::<usize>();
            assert_eq!(named, 1, "load-{i:02} named {named} times on {channel}");
        }
        eprintln!("{channel}: 50 changes in {} messages", messages.len());
    }
}
