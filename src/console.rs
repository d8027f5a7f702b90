//! The interactive console: type chat commands as a user. `as <user>` switches who you are.

use std::io::IsTerminal;

use baton_adapters::console::render;
use baton_commands::{Actor, Baton, Request};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Reads commands from stdin until `quit` or end of input.
pub async fn run(baton: &Baton, user: &str) -> anyhow::Result<()> {
    let interactive = std::io::stdin().is_terminal();
    let mut actor = Actor::console(user);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut out = tokio::io::stdout();
    loop {
        if interactive {
            out.write_all(format!("baton ({})> ", actor.id).as_bytes())
                .await?;
            out.flush().await?;
        }
        let Some(line) = lines.next_line().await? else {
            break;
        };
        let line = line.trim();
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            [] => continue,
            ["quit" | "exit"] => break,
            ["as", who] => {
                actor = Actor::console(who);
                out.write_all(format!("· you are now {}\n", actor.id).as_bytes())
                    .await?;
            }
            _ => {
                let outcome = baton.run(Request::text(actor.clone(), None, line)).await;
                let text = render(&outcome.reply);
                out.write_all(text.as_bytes()).await?;
            }
        }
        out.flush().await?;
    }
    Ok(())
}

/// Runs one command as `user` and prints the reply; `Ok(false)` when it was refused.
pub async fn exec(baton: &Baton, user: &str, text: &str) -> bool {
    let outcome = baton
        .run(Request::text(Actor::console(user), None, text))
        .await;
    print!("{}", render(&outcome.reply));
    outcome.result.is_ok()
}
