//! Moving state written by an earlier version to today's layout, at start-up.

use serde::Deserialize;

use super::call::Call;
use super::contracts::Contract;
use super::scripts::{self, Function};
use super::{Store, StoreError};
use crate::catalog::Catalog;

/// `migrate.lua`: one env's queue, from the list earlier versions kept to the three-key line.
struct MoveQueue {
    old: String,
}

#[derive(Deserialize)]
struct Moved {
    moved: usize,
}

impl Contract for MoveQueue {
    type Answer = Moved;
    fn function(&self) -> Function {
        scripts::MIGRATE_QUEUE
    }
    fn write(&self, call: Call) -> Call {
        call.key(self.old.clone())
    }
}

impl Store {
    /// Moves every configured env's queue that an earlier version left as a list into today's
    /// layout, in order, and answers how many waiters moved. One call per env (each is a no-op
    /// once moved), at start-up: queues a version before the three-key line wrote keep their
    /// places across the upgrade.
    pub async fn move_old_queues(&self, catalog: &Catalog) -> Result<usize, StoreError> {
        let calls = catalog
            .envs()
            .iter()
            .map(|env| {
                let group = catalog.group_of(env);
                let old = self.keys().old_queue(group, &env.name);
                self.prepare(&MoveQueue { old }, group, &[&env.name])
            })
            .collect();
        let mut moved = 0;
        for answer in self.call_each(calls).await {
            moved += answer?.moved;
        }
        Ok(moved)
    }
}
