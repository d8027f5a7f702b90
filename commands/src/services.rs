//! The core's services. Each command family is a service over the same small [`Core`] (the store,
//! the configured envs and the queue limit) plus only what else it needs; the router dispatches to
//! them, and no service reaches into another's state. `Deref` to the core keeps a handler's body
//! about its own work (`self.store`, `self.catalog`).
//!
//! | service | file | needs beyond the core |
//! |---|---|---|
//! | [`Locks`] | `locks.rs`, `freeze.rs` | — |
//! | [`Claims`] | `claims.rs` | ends a claim through [`Locks`] |
//! | [`Status`] | `status.rs` | — |
//! | [`Expiry`] | `sweeper.rs` | — |
//! | [`Pipelines`] | `ci/` | the event bus, the shutdown signal |
//! | `AdminDesk` | `admin/` | the admin settings (defined there) |

use std::ops::Deref;
use std::sync::Arc;

use tokio::sync::watch;

use crate::bus::EventBus;
use crate::catalog::Catalog;
use crate::config::EnvSettings;
use crate::domain::EnvName;
use crate::store::contracts::{Contract, Prepared};
use crate::store::Store;

/// What every service shares. Cloned for every command, so it is one shared allocation: a clone
/// is one reference count, not one per part.
#[derive(Clone)]
pub(crate) struct Core(Arc<CoreParts>);

/// The parts of [`Core`].
pub(crate) struct CoreParts {
    pub(crate) store: Store,
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) queue_limit: usize,
}

impl Core {
    pub(crate) fn new(store: Store, catalog: Arc<Catalog>, queue_limit: usize) -> Self {
        Self(Arc::new(CoreParts {
            store,
            catalog,
            queue_limit,
        }))
    }
}

impl Deref for Core {
    type Target = CoreParts;
    fn deref(&self) -> &CoreParts {
        &self.0
    }
}

macro_rules! service {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub(crate) struct $name(pub(crate) Core);

        impl Deref for $name {
            type Target = Core;
            fn deref(&self) -> &Core {
                &self.0
            }
        }
    };
}

service!(
    /// Deploy locks, the queue and freezes.
    Locks
);
service!(
    /// Staging claims.
    Claims
);
service!(
    /// Reading env state: `status`, `history`, and the views the API and the page show.
    Status
);
service!(
    /// The expiry sweeper.
    Expiry
);

impl Core {
    pub(crate) fn locks(&self) -> Locks {
        Locks(self.clone())
    }

    pub(crate) fn claims(&self) -> Claims {
        Claims(self.clone())
    }

    pub(crate) fn status(&self) -> Status {
        Status(self.clone())
    }

    pub(crate) fn expiry(&self) -> Expiry {
        Expiry(self.clone())
    }

    /// One call of a contract per hash-tag group of `envs` (a script never spans two slots), with
    /// the envs each call covers: for `call_each`, whose answers come back in the same order.
    pub(crate) fn per_group<'a, C: Contract>(
        &self,
        args: &C,
        envs: impl IntoIterator<Item = &'a EnvSettings>,
    ) -> (Vec<Vec<EnvName>>, Vec<Prepared<C::Answer>>) {
        self.catalog
            .by_group(envs)
            .into_iter()
            .map(|(group, names)| {
                let refs: Vec<&EnvName> = names.iter().collect();
                let call = self.store.prepare(args, &group, &refs);
                (names, call)
            })
            .unzip()
    }
}

/// What pipelines do: acquire (waiting in line), release, extend, gate, record deploys. It waits
/// on the event bus and answers waiters when the service shuts down.
#[derive(Clone)]
pub(crate) struct Pipelines {
    pub(crate) core: Core,
    pub(crate) bus: EventBus,
    pub(crate) closing: watch::Receiver<bool>,
}

impl Deref for Pipelines {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl Pipelines {
    /// Resolves when a shutdown has begun.
    pub(crate) async fn closing(&self) {
        let mut rx = self.closing.clone();
        let _ = rx.wait_for(|closing| *closing).await;
    }
}
