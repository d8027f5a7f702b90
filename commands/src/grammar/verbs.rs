//! The table of verbs: every command, its parameters, help, privilege, and how it becomes a typed
//! [`Command`], defined once. Adding a verb is one entry here plus its builder in `build.rs`.

use super::build;
use super::spec::*;
use crate::command::{
    AdminCommand, ClaimCommand, Command, FreezeCommand, LockCommand, Privilege, ReadCommand,
};

/// Every command Baton understands.
pub static VERBS: &[Verb] = &[
    Verb {
        name: "lock",
        params: &[ENVS, TTL, REASON],
        summary: "take the deploy lock on an env (or several together)",
        examples: &[
            "lock prod 30m hotfix for login",
            "lock canary",
            "lock prod-eu,prod-us 30m release 4.2",
        ],
        privilege: Privilege::Anyone,
        refused_as: None,
        changes_state: true,
        build: build::lock,
        owns: |c| {
            matches!(
                c,
                Command::Locks(LockCommand::Lock { .. } | LockCommand::LockSet { .. })
            )
        },
    },
    Verb {
        name: "unlock",
        params: &[
            ENVS,
            p(
                "--force",
                Kind::Flag,
                false,
                "admins: release someone else's lock",
            ),
        ],
        summary: "release your deploy lock (the next in the queue gets it)",
        examples: &["unlock prod", "unlock prod-eu,prod-us", "unlock prod --force"],
        privilege: Privilege::Anyone,
        refused_as: None,
        changes_state: true,
        build: build::unlock,
        owns: |c| {
            matches!(
                c,
                Command::Locks(LockCommand::Unlock { .. } | LockCommand::UnlockSet { .. })
                    | Command::Admin(AdminCommand::ForceUnlock { .. })
            )
        },
    },
    Verb {
        name: "extend",
        params: &[
            ENVS,
            p(
                "duration",
                Kind::Duration,
                true,
                "how much longer, like 30m",
            ),
        ],
        summary: "keep your lock or claim longer",
        examples: &["extend prod 30m", "extend prod-eu,prod-us 30m"],
        privilege: Privilege::Anyone,
        refused_as: None,
        changes_state: true,
        build: build::extend,
        owns: |c| {
            matches!(
                c,
                Command::Locks(LockCommand::Extend { .. } | LockCommand::ExtendSet { .. })
            )
        },
    },
    Verb {
        name: "queue",
        params: &[ENVS, TTL, REASON],
        summary: "wait in line for the deploy lock (or several together)",
        examples: &["queue prod 20m release 4.2", "queue prod-eu,prod-us 30m release 4.2"],
        privilege: Privilege::Anyone,
        refused_as: None,
        changes_state: true,
        build: build::queue,
        owns: |c| {
            matches!(
                c,
                Command::Locks(LockCommand::Queue { .. } | LockCommand::QueueSet { .. })
            )
        },
    },
    Verb {
        name: "leave",
        params: &[ENVS],
        summary: "leave an env's queue (or a set's)",
        examples: &["leave prod", "leave prod-eu,prod-us"],
        privilege: Privilege::Anyone,
        refused_as: None,
        changes_state: true,
        build: build::leave,
        owns: |c| {
            matches!(
                c,
                Command::Locks(LockCommand::Leave { .. } | LockCommand::LeaveSet { .. })
            )
        },
    },
    Verb {
        name: "status",
        params: &[p(
            "env|pool",
            Kind::Target,
            false,
            "an env or pool (default: all)",
        )],
        summary: "who holds what, why, until when, and who waits",
        examples: &["status", "status prod"],
        privilege: Privilege::Anyone,
        refused_as: None,
        changes_state: false,
        build: build::status,
        owns: |c| matches!(c, Command::Reads(ReadCommand::Status { .. })),
    },
    Verb {
        name: "claim",
        params: &[
            p(
                "env|pool",
                Kind::Target,
                true,
                "a staging env, or a pool for any free one",
            ),
            p(
                "count",
                Kind::Count,
                false,
                "how many envs of the pool: all of them or none (default 1)",
            ),
            TTL,
            p("note", Kind::Text, false, "what you are using it for"),
        ],
        summary: "claim a staging env, or any free env (or N) of a pool",
        examples: &[
            "claim staging 3h testing payments",
            "claim staging-2",
            "claim staging 2 4h load test",
        ],
        privilege: Privilege::Anyone,
        refused_as: None,
        changes_state: true,
        build: build::claim,
        owns: |c| matches!(c, Command::Claims(ClaimCommand::Claim { .. })),
    },
    Verb {
        name: "release",
        params: &[
            ENV,
            p(
                "--force",
                Kind::Flag,
                false,
                "admins: release someone else's claim",
            ),
        ],
        summary: "release your claim",
        examples: &["release staging-2"],
        privilege: Privilege::Anyone,
        refused_as: None,
        changes_state: true,
        build: build::release,
        owns: |c| {
            matches!(
                c,
                Command::Claims(ClaimCommand::Release { .. })
                    | Command::Admin(AdminCommand::ForceRelease { .. })
            )
        },
    },
    Verb {
        name: "history",
        params: &[
            ENV,
            p(
                "n",
                Kind::Count,
                false,
                "how many entries (default 10, at most 50)",
            ),
        ],
        summary: "what happened on an env, newest first",
        examples: &["history prod", "history prod 25"],
        privilege: Privilege::Anyone,
        refused_as: None,
        changes_state: false,
        build: build::history,
        owns: |c| matches!(c, Command::Reads(ReadCommand::History { .. })),
    },
    Verb {
        name: "freeze",
        params: &[
            p("env|all", Kind::Scope, true, "an env, a pool, or all"),
            p(
                "duration",
                Kind::Span,
                false,
                "how long, or `until 2026-12-24 18:00` / `until fri 18:00 Europe/Berlin` (default zone: [defaults] timezone); default: until unfrozen",
            ),
            REASON,
        ],
        summary: "refuse deploy locks and claims (except to admins) for a while",
        examples: &[
            "freeze prod 2h incident 4711",
            "freeze all until 2026-12-24 18:00 holidays",
            "freeze prod until fri 18:00 Europe/Berlin release train",
        ],
        privilege: Privilege::Deployer,
        refused_as: Some(FREEZING),
        changes_state: true,
        build: build::freeze,
        owns: |c| matches!(c, Command::Freezes(FreezeCommand::Freeze { .. })),
    },
    Verb {
        name: "unfreeze",
        params: &[p("env|all", Kind::Scope, true, "an env, a pool, or all")],
        summary: "lift a freeze",
        examples: &["unfreeze all"],
        privilege: Privilege::Deployer,
        refused_as: Some(FREEZING),
        changes_state: true,
        build: build::unfreeze,
        owns: |c| matches!(c, Command::Freezes(FreezeCommand::Unfreeze { .. })),
    },
    Verb {
        name: "freeze skip",
        params: &[
            p(
                "window",
                Kind::Name,
                true,
                "a scheduled freeze window, by its [[freezes]] name",
            ),
            p(
                "reason",
                Kind::Text,
                false,
                "why (`once` first is allowed), shown to everyone",
            ),
        ],
        summary: "end a scheduled freeze window that is on now, or skip its next occurrence not skipped yet",
        examples: &["freeze skip weekend once hotfix for the login outage"],
        privilege: Privilege::Admin,
        refused_as: None,
        changes_state: true,
        build: build::freeze_skip,
        owns: |c| matches!(c, Command::Admin(AdminCommand::SkipWindow { .. })),
    },
    Verb {
        name: "approve",
        params: &[
            ENV,
            p(
                "#request",
                Kind::Text,
                false,
                "which request, like #3f9a1c",
            ),
        ],
        summary: "approve another's pending lock",
        examples: &["approve prod", "approve prod #3f9a1c"],
        privilege: Privilege::Deployer,
        refused_as: Some(APPROVING),
        changes_state: true,
        build: build::approve,
        owns: |c| matches!(c, Command::Locks(LockCommand::Approve { .. })),
    },
    Verb {
        name: "reject",
        params: &[
            ENV,
            p(
                "reason",
                Kind::Text,
                false,
                "why; `#3f9a1c` first names the request",
            ),
        ],
        summary: "reject a pending lock, or withdraw yours",
        examples: &["reject prod not during the incident", "reject prod #3f9a1c wrong build"],
        privilege: Privilege::Deployer,
        refused_as: Some(APPROVING),
        changes_state: true,
        build: build::reject,
        owns: |c| matches!(c, Command::Locks(LockCommand::Reject { .. })),
    },
    Verb {
        name: "github approve",
        params: &[ENV, GITHUB_RUN],
        summary: "let a waiting GitHub deployment have the lock now, over a freeze (not over a holder)",
        examples: &["github approve prod acme/api#123"],
        privilege: Privilege::Admin,
        refused_as: None,
        changes_state: true,
        build: build::github_approve,
        owns: |c| matches!(c, Command::Admin(AdminCommand::GithubApprove { .. })),
    },
    Verb {
        name: "github reject",
        params: &[ENV, GITHUB_RUN, REASON],
        summary: "take a waiting GitHub deployment out of line; GitHub shows it rejected, with why",
        examples: &["github reject prod 123 not during the incident"],
        privilege: Privilege::Admin,
        refused_as: None,
        changes_state: true,
        build: build::github_reject,
        owns: |c| matches!(c, Command::Admin(AdminCommand::GithubReject { .. })),
    },
    Verb {
        name: "freezes",
        params: &[p(
            "env",
            Kind::Target,
            false,
            "one env (default: every env)",
        )],
        summary: "list the scheduled freeze windows on now and in the next 7 days, per env",
        examples: &["freezes", "freezes prod"],
        privilege: Privilege::Anyone,
        refused_as: None,
        changes_state: false,
        build: build::freezes,
        owns: |c| matches!(c, Command::Reads(ReadCommand::Freezes { .. })),
    },
    Verb {
        name: "admin queues",
        params: &[p(
            "queue",
            Kind::Name,
            false,
            "one queue, with its newest failed jobs (default: every queue)",
        )],
        summary: "BullMQ queues: job counts, paused or not, BullMQ version",
        examples: &["admin queues", "admin queues emails"],
        privilege: Privilege::Admin,
        refused_as: None,
        changes_state: false,
        build: build::admin_queues,
        owns: |c| matches!(c, Command::Admin(AdminCommand::Queues { .. })),
    },
    Verb {
        name: "admin queue",
        params: &[
            p(
                "action",
                Kind::Choice(&["retry", "pause", "resume"]),
                true,
                "retry every failed job, pause the queue, or resume it",
            ),
            p("queue", Kind::Name, true, "the BullMQ queue"),
        ],
        summary: "retry a queue's failed jobs, or pause or resume it, with BullMQ's own scripts",
        examples: &["admin queue retry emails", "admin queue resume emails"],
        privilege: Privilege::Admin,
        refused_as: None,
        changes_state: false,
        build: build::admin_queue,
        owns: |c| matches!(c, Command::Admin(AdminCommand::Queue { .. })),
    },
    Verb {
        name: "admin session",
        params: &[USER],
        summary: "whether a user has a session, its age, TTL and fingerprint; never the token",
        examples: &["admin session alice"],
        privilege: Privilege::Admin,
        refused_as: None,
        changes_state: false,
        build: build::admin_session,
        owns: |c| matches!(c, Command::Admin(AdminCommand::Session { .. })),
    },
    Verb {
        name: "admin kick",
        params: &[USER],
        summary: "end a user's session and announce it, so the app drops their connections",
        examples: &["admin kick alice"],
        privilege: Privilege::Admin,
        refused_as: None,
        changes_state: false,
        build: build::admin_kick,
        owns: |c| matches!(c, Command::Admin(AdminCommand::Kick { .. })),
    },
    Verb {
        name: "admin ratelimit",
        params: &[LIMITER, IDENTITY],
        summary: "one identity's rate-limit count, window and TTL",
        examples: &["admin ratelimit otp alice@example.com"],
        privilege: Privilege::Admin,
        refused_as: None,
        changes_state: false,
        build: build::admin_ratelimit,
        owns: |c| matches!(c, Command::Admin(AdminCommand::RateLimit { .. })),
    },
    Verb {
        name: "admin ratelimit reset",
        params: &[LIMITER, IDENTITY],
        summary: "delete exactly one identity's rate-limit keys, and say how many",
        examples: &["admin ratelimit reset otp alice@example.com"],
        privilege: Privilege::Admin,
        refused_as: None,
        changes_state: false,
        build: build::admin_ratelimit_reset,
        owns: |c| matches!(c, Command::Admin(AdminCommand::RateLimitReset { .. })),
    },
    Verb {
        name: "admin leaderboard",
        params: &[
            p(
                "board",
                Kind::Name,
                true,
                "a leaderboard from [admin] config",
            ),
            p(
                "n",
                Kind::Top,
                false,
                "how many from the top (default 10, at most 100)",
            ),
            p(
                "member",
                Kind::Around,
                false,
                "show the ranks around this member",
            ),
        ],
        summary: "a leaderboard's top ranks, or the ranks around one member",
        examples: &[
            "admin leaderboard weekly",
            "admin leaderboard weekly top 25",
            "admin leaderboard weekly around alice",
        ],
        privilege: Privilege::Admin,
        refused_as: None,
        changes_state: false,
        build: build::admin_leaderboard,
        owns: |c| matches!(c, Command::Admin(AdminCommand::Leaderboard { .. })),
    },
    Verb {
        name: "admin history",
        params: &[COUNT],
        summary: "what admins did (kicks, resets, queue actions) and who, newest first",
        examples: &["admin history", "admin history 25"],
        privilege: Privilege::Admin,
        refused_as: None,
        changes_state: false,
        build: build::admin_history,
        owns: |c| matches!(c, Command::Admin(AdminCommand::History { .. })),
    },
    Verb {
        name: "help",
        params: &[p("command", Kind::Topic, false, "a command to explain")],
        summary: "show this help, or how to use one command",
        examples: &["help lock"],
        privilege: Privilege::Anyone,
        refused_as: None,
        changes_state: false,
        build: build::help,
        owns: |c| matches!(c, Command::Help { .. }),
    },
];

impl Verb {
    /// Who may run it, as the README and Discord's descriptions say after the summary.
    pub fn role_note(&self) -> &'static str {
        match self.privilege {
            Privilege::Anyone => "",
            Privilege::Deployer => " (deployers and admins)",
            Privilege::Admin => " (admins)",
        }
    }

    /// The usage line: `lock <env> [<duration>] [reason...]`.
    pub fn usage(&self) -> String {
        let mut out = self.name.to_string();
        for param in self.params {
            let shown = match param.kind {
                Kind::Span => "<duration> | until <time>".to_string(),
                Kind::Text => format!("{}...", param.name),
                Kind::Flag => param.name.to_string(),
                Kind::Choice(words) => words.join("|"),
                Kind::Top => format!("top <{}>", param.name),
                Kind::Around => format!("around <{}>", param.name),
                _ => format!("<{}>", param.name),
            };
            out.push(' ');
            if param.required {
                out.push_str(&shown);
            } else {
                out.push_str(&format!("[{shown}]"));
            }
        }
        out
    }
}
