//! One road through the core for every front end. Slack (HTTP and Socket Mode), Discord (HTTP
//! and the gateway), the console, `baton exec` and the CI API hand [`Baton::run`] (or, for the
//! CI API's typed requests, [`Baton::run_ci`]; for a GitHub run asking for its env,
//! [`Baton::run_github`]) the same [`Request`] and get the same [`Outcome`] back: the verb, the
//! typed result, the reply with any refusal rendered, and who sees it.
//!
//! The road: parse (for text) → find the grammar entry → check the privilege once → run →
//! render the refusal → decide the visibility → log one line and count it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{LazyLock, RwLock};
use std::time::Instant;

use futures_util::future::BoxFuture;
use metrics::{Counter, Histogram};

use crate::command::{Command, Privilege};
use crate::domain::wall_clock;
use crate::domain::Actor;
use crate::error::BatonError;
use crate::grammar::{self, Verb};
pub use crate::reply::Render;
use crate::reply::{in_zone, with_zone, Reply, Visibility};
use crate::router::Baton;

/// What a front end hands the core.
#[derive(Clone, Debug)]
pub struct Request {
    /// Who.
    pub actor: Actor,
    /// The channel it came from, when the platform has one.
    pub channel: Option<String>,
    /// What.
    pub input: Input,
}

/// Chat text, or a command a front end already has in typed form.
#[derive(Clone, Debug)]
pub enum Input {
    /// Chat text (a slash command, a button's command, a console line), parsed by the grammar.
    Text(String),
    /// An already-typed command.
    Command(Command),
}

impl Request {
    /// Chat text from `actor`.
    pub fn text(actor: Actor, channel: Option<String>, text: &str) -> Self {
        Self {
            actor,
            channel,
            input: Input::Text(text.to_string()),
        }
    }
}

/// A typed request and its typed answer: how [`Baton::run_ci`] runs a request of the CI API (and
/// [`Baton::run_github`] a GitHub run).
pub trait CiRequest: Send + Sized + 'static {
    /// What a success carries.
    type Answer: Render + Send;
    /// The request as a [`Command`](crate::Command), for the privilege check and the log label.
    fn command(&self) -> crate::Command;
    /// Runs it as `actor` (already authorized); `admin` as the router found the role.
    fn answer<'a>(
        self,
        baton: &'a Baton,
        actor: &'a Actor,
        admin: bool,
    ) -> BoxFuture<'a, Result<Self::Answer, BatonError>>;
}

/// What came of one request.
#[derive(Clone, Debug)]
pub struct Outcome<T = Reply> {
    /// The grammar entry of the verb typed (also when its arguments did not parse); `None` for an
    /// unknown verb and for the CI API's own requests.
    pub entry: Option<&'static Verb>,
    /// The command as logs and metrics name it (`lock`, `admin kick`, `ci lock`, `unknown`).
    pub label: &'static str,
    /// The typed result.
    pub result: Result<T, BatonError>,
    /// The answer for people: the success's reply, or the refusal rendered.
    pub reply: Reply,
    /// Who sees the reply, decided here once (and copied into `reply.visibility`).
    pub visibility: Visibility,
}

impl<T> Outcome<T> {
    /// Whether the verb typed was `name`.
    pub fn is(&self, name: &str) -> bool {
        self.entry.is_some_and(|v| v.name == name)
    }

    /// A request whose work was lost (its task panicked): a bug, answered like one, to the asker
    /// only.
    pub fn lost() -> Self {
        let e = BatonError::Internal;
        Self {
            entry: None,
            label: "unknown",
            reply: e.reply(wall_clock()),
            result: Err(e),
            visibility: Visibility::Ephemeral,
        }
    }
}

impl Baton {
    /// Runs chat text or a typed command for a chat front end, the console or `exec`.
    pub async fn run(&self, request: Request) -> Outcome {
        let Request { actor, input, .. } = request;
        let command = match input {
            Input::Command(c) => c,
            Input::Text(text) => match grammar::parse(&text) {
                Ok(c) => c,
                Err(e) => {
                    let zone = self.zone();
                    return with_zone(zone, || self.refused(grammar::verb_in(&text), e));
                }
            },
        };
        // A group's name stands for its envs (`lock prod` → `lock prod-eu,prod-us`).
        let command = self.catalog().resolve(command);
        let run = command.clone();
        let actor = &actor;
        let road = self.road(actor, &command, None, true, |role| {
            // Boxed: the command futures are deep (BullMQ, cluster clients), and every caller
            // would otherwise inherit their whole layout.
            Box::pin(self.dispatch(actor, role, run))
        });
        // Boxed as a trait object: the zone's scope would otherwise nest one more level into
        // every caller's future type.
        let road: BoxFuture<'_, _> = Box::pin(road);
        in_zone(self.zone(), road).await
    }

    /// The zone the team reads times in (`[defaults] timezone`, else UTC): every answer's text
    /// shows its times there ([`crate::reply::clock`]).
    pub fn zone(&self) -> chrono_tz::Tz {
        self.core.catalog.timezone()
    }

    /// Runs one of the CI API's typed requests; the outcome carries its typed answer.
    pub async fn run_ci<R: CiRequest>(&self, actor: Actor, request: R) -> Outcome<R::Answer> {
        let command = request.command();
        let actor = &actor;
        // The CI API answers with the typed result: no chat reply is rendered for it.
        let road = self.road(actor, &command, None, false, |role| {
            request.answer(self, actor, role == Privilege::Admin)
        });
        let road: BoxFuture<'_, _> = Box::pin(road);
        in_zone(self.zone(), road).await
    }

    /// Runs a GitHub run's request for its env (`actor`: the App for one repository, see
    /// [`crate::github::actor`]): privilege, log line and metrics as for any request, labelled
    /// `github run`; the outcome carries the typed answer.
    pub async fn run_github<R: CiRequest>(&self, actor: Actor, request: R) -> Outcome<R::Answer> {
        let command = request.command();
        let actor = &actor;
        let road = self.road(actor, &command, Some("github run"), false, |role| {
            request.answer(self, actor, role == Privilege::Admin)
        });
        let road: BoxFuture<'_, _> = Box::pin(road);
        in_zone(self.zone(), road).await
    }

    /// Chat text as `actor`, with no channel: the reply, or the refusal and its reply.
    pub async fn run_text(&self, actor: Actor, text: &str) -> Result<Reply, (BatonError, Reply)> {
        let outcome = self.run(Request::text(actor, None, text)).await;
        match outcome.result {
            Ok(_) => Ok(outcome.reply),
            Err(e) => Err((e, outcome.reply)),
        }
    }

    /// Who sees an answer: a success of a verb announced to the channel (`[chat] in_channel`,
    /// by default every verb whose entry changes state) is for the channel; everything else,
    /// refusals included, only for the asker. Front ends that must choose before the answer
    /// exists (a deferred Discord response) ask with `ok = true`.
    pub fn visibility(&self, entry: Option<&Verb>, ok: bool) -> Visibility {
        let announced = entry.is_some_and(|v| {
            self.announce
                .iter()
                .any(|name| name.eq_ignore_ascii_case(v.name))
        });
        if ok && announced {
            Visibility::InChannel
        } else {
            Visibility::Ephemeral
        }
    }

    /// The one road: privilege, run, render (`render`: for people; the CI API answers with the
    /// typed result alone), visibility, one log line and the metrics, under `label` when the
    /// front end names the request itself (else the command's own). The log line is at INFO for
    /// a state change and at DEBUG for a read (`gate`, `status`, …), so a busy read path formats
    /// nothing; the span is at DEBUG for the same reason.
    #[tracing::instrument(level = "debug", skip_all, fields(user = %actor.id, command = tracing::field::Empty))]
    async fn road<'a, T, F, Fut>(
        &'a self,
        actor: &'a Actor,
        command: &Command,
        label: Option<&'static str>,
        render: bool,
        run: F,
    ) -> Outcome<T>
    where
        T: Render,
        F: FnOnce(Privilege) -> Fut,
        Fut: Future<Output = Result<T, BatonError>> + 'a,
    {
        let started = Instant::now();
        let entry = grammar::entry(command);
        let label = label.unwrap_or_else(|| crate::router::label(entry, command));
        tracing::Span::current().record("command", label);
        let role = self.core.catalog.role(actor);
        let result = match self.authorize(role, actor, entry, command) {
            Ok(()) => run(role).await,
            Err(e) => Err(e),
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        let elapsed = started.elapsed();
        let elapsed_ms = elapsed.as_millis() as u64;
        if changes_state(entry, command) {
            tracing::info!(user = %actor.id, command = label, outcome, elapsed_ms, "command");
        } else {
            tracing::debug!(user = %actor.id, command = label, outcome, elapsed_ms, "command");
        }
        let (count, duration) = handles(label, outcome);
        count.increment(1);
        duration.record(elapsed.as_secs_f64());
        let reply = match &result {
            _ if !render => Reply::new(crate::reply::Tone::Info, String::new(), 0),
            Ok(answer) => answer.reply(),
            Err(e) => e.reply(wall_clock()),
        };
        self.settle(entry, label, result, reply)
    }

    /// A request refused before it became a command (text that did not parse).
    fn refused(&self, entry: Option<&'static Verb>, e: BatonError) -> Outcome {
        let reply = e.reply(wall_clock());
        self.settle(entry, entry.map_or("unknown", |v| v.name), Err(e), reply)
    }

    fn settle<T>(
        &self,
        entry: Option<&'static Verb>,
        label: &'static str,
        result: Result<T, BatonError>,
        mut reply: Reply,
    ) -> Outcome<T> {
        let visibility = self.visibility(entry, result.is_ok());
        reply.visibility = visibility;
        Outcome {
            entry,
            label,
            result,
            reply,
            visibility,
        }
    }
}

/// The counter of `label`'s requests with `outcome`, and `label`'s duration histogram. Both names
/// are static, so each pair is registered once (by `metrics`' own macros, which build and hash a
/// labelled key on every call) and then found by the two pointers alone. A handle made before
/// the process installs its recorder would record nowhere, so the binary installs it before it
/// builds a [`Baton`] (`app::build`).
fn handles(label: &'static str, outcome: &'static str) -> (Counter, Histogram) {
    type Handles = HashMap<[usize; 4], (Counter, Histogram)>;
    static HANDLES: LazyLock<RwLock<Handles>> = LazyLock::new(Default::default);
    let key = [
        label.as_ptr() as usize,
        label.len(),
        outcome.as_ptr() as usize,
        outcome.len(),
    ];
    if let Some(found) = HANDLES.read().ok().and_then(|h| h.get(&key).cloned()) {
        return found;
    }
    let made = (
        metrics::counter!("baton_commands_total", "command" => label, "outcome" => outcome),
        metrics::histogram!("baton_command_duration_seconds", "command" => label),
    );
    if let Ok(mut h) = HANDLES.write() {
        h.insert(key, made.clone());
    }
    made
}

/// Whether a command may change state (its log line is at INFO); reads log at DEBUG. Chat verbs
/// say so in their grammar entry; of the CI API's requests only `gate` is a read; admin commands
/// are rare and always logged.
fn changes_state(entry: Option<&Verb>, command: &Command) -> bool {
    match (command, entry) {
        (Command::Ci(ci), _) => !matches!(ci, crate::ci_api::CiCommand::Gate(_)),
        (Command::Admin(_), _) => true,
        (_, Some(v)) => v.changes_state,
        (_, None) => true,
    }
}
