//! The freeze calendar's scripts: skipping an occurrence, and the notice before one starts.

use serde::Deserialize;

use super::super::scripts::{self, Function};
use super::super::Call;
use super::Contract;
use crate::calendar::Occurrence;
use crate::state::{lua_list, Hold};

/// `window.lua`: skip an occurrence of `window` on every env of one group: the first of
/// `occurrences` that is not over and not skipped already on all of them.
pub struct SkipArgs<'a> {
    pub window: &'a str,
    /// The candidates, in start order: the occurrence on now (if any), then those ahead, as far
    /// as `freeze skip` reaches.
    pub occurrences: &'a [Occurrence],
    pub actor: &'a str,
    pub display: &'a str,
    pub reason: &'a str,
}

impl Contract for SkipArgs<'_> {
    type Answer = SkipAnswer;
    fn function(&self) -> Function {
        scripts::WINDOW_SKIP
    }
    fn write(&self, call: Call) -> Call {
        let candidates: Vec<String> = self
            .occurrences
            .iter()
            .map(|o| format!("{}:{}", o.start_ms(), o.end_ms()))
            .collect();
        call.arg(self.window)
            .arg(candidates.join(","))
            .arg(self.actor)
            .arg(self.display)
            .arg(self.reason)
    }
}

/// What `window.lua` answers: the occurrence it skipped (none when every candidate was skipped
/// already), and per env whether this call marked it and who holds it now.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SkipAnswer {
    Ok {
        /// Redis' clock.
        now: u64,
        /// The skipped occurrence's start (Unix ms).
        #[serde(default)]
        starts: Option<u64>,
        /// Its end.
        #[serde(default)]
        ends: Option<u64>,
        #[serde(default, deserialize_with = "lua_list")]
        envs: Vec<Skipped>,
    },
}

/// One env a skip touched.
#[derive(Debug, Deserialize)]
pub struct Skipped {
    pub env: String,
    /// False when the occurrence was skipped already on it (or none was left to skip).
    pub changed: bool,
    #[serde(default)]
    pub lock: Option<Hold>,
    /// The skip handed the lock on (the queue the window held moved): `lock` is the new holder's.
    #[serde(default)]
    pub handed: bool,
}

/// `notice.lua`: the notice before an occurrence of `window`, once per env.
pub struct NoticeArgs<'a> {
    pub window: &'a str,
    pub start_ms: u64,
    pub end_ms: u64,
    pub reason: &'a str,
}

impl Contract for NoticeArgs<'_> {
    type Answer = NoticeAnswer;
    fn function(&self) -> Function {
        scripts::WINDOW_NOTICE
    }
    fn write(&self, call: Call) -> Call {
        call.arg(self.window)
            .arg(self.start_ms)
            .arg(self.end_ms)
            .arg(self.reason)
    }
}

/// What `notice.lua` answers: per env, whether this call gave the notice.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum NoticeAnswer {
    Ok {
        #[serde(default, deserialize_with = "lua_list")]
        envs: Vec<Noticed>,
    },
}

/// One env a notice call touched.
#[derive(Debug, Deserialize)]
pub struct Noticed {
    pub env: String,
    pub given: bool,
}
