//! The HTTP application and the long-running service around it. Servers take a listener and a
//! shutdown future, so tests bind port 0 and stop them when they are done.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use baton_adapters::ci::{self, CiState};
use baton_commands::config::Config;
use baton_commands::store::{Store, StoreError};
use baton_commands::Notifier;
use baton_commands::{Baton, Catalog};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::budget::Budget;
use crate::edge::BodyTimeout;
pub use crate::edge::BODY_LIMIT;

/// Shared state of every route.
#[derive(Clone)]
pub struct AppState {
    /// The core.
    pub baton: Baton,
    /// The CI API's tokens and limits.
    pub ci: CiState,
    /// `[server] status_page`: whether `GET /` and its public feeds are served.
    pub status_page: bool,
    /// Slots for event streams, per address and in all.
    pub streams: Arc<Budget>,
    /// `[server] body_timeout`.
    pub body_timeout: BodyTimeout,
    /// The served OpenAPI document, with this config's limits and envs written in.
    pub openapi: Arc<str>,
    /// The web console, when `[web] enabled`.
    pub web: Option<baton_adapters::web::Web>,
}

impl AppState {
    /// The state for `config`'s routes over `baton`.
    pub fn new(config: &Config, baton: Baton) -> Self {
        let openapi = baton_adapters::ci::contract::document(
            include_str!("openapi.json"),
            baton.catalog(),
            config.ci.max_wait,
        )
        .into();
        Self {
            ci: CiState::new(baton.clone(), &config.ci),
            web: baton_adapters::web::Web::new(config, &baton),
            baton,
            status_page: config.server.status_page,
            streams: Budget::new(
                config.server.max_event_streams_per_address,
                config.server.max_event_streams,
            ),
            body_timeout: BodyTimeout(config.server.body_timeout),
            openapi,
        }
    }
}

/// Builds the core for a config: a store that connects lazily, so Baton starts while Redis is down.
pub fn build(config: &Config) -> anyhow::Result<Baton> {
    // The recorder comes first: the core keeps the handles of its per-command metrics once made
    // (road.rs), and a handle made before any recorder records nowhere, for good.
    prometheus();
    // The error names the setting, never the URL: it may hold a password.
    let store = Store::connect(&config.redis, config.defaults.history_length)
        .map_err(|e| anyhow::anyhow!("cannot use the [redis] settings: {}", e.0))?;
    Ok(Baton::new(config, store))
}

/// The routes: health, the CI API, and every configured chat platform's.
pub fn router(state: AppState, platforms: Router) -> Router {
    // Every route is bounded; a CI lock request may legitimately wait up to `ci.max_wait`.
    // Its body is not: that has `server.body_timeout`, like its headers.
    let bound = state.ci.max_wait() + Duration::from_secs(30);
    let edge = crate::edge::Edge {
        bound,
        body_timeout: state.body_timeout,
        streams: state.streams.clone(),
    };
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .with_state(state.clone())
        .merge(baton_adapters::web::wall(
            state.web.as_ref(),
            crate::status_page::routes(&state.baton, state.status_page),
        ))
        .merge(baton_adapters::web::routes(state.web.as_ref()))
        .merge(ci::routes(state.ci))
        .merge(platforms)
        .layer(from_fn_with_state(edge, crate::edge::edge));
    // tower-http's span and lines per request are DEBUG: the layer is there only when they would
    // be written (`RUST_LOG=tower_http=debug`), not a cost on every request otherwise.
    if tracing::enabled!(target: "tower_http::trace", tracing::Level::DEBUG) {
        app.layer(TraceLayer::new_for_http())
    } else {
        app
    }
}

/// The process-wide Prometheus recorder (installed once, shared by every app in the process).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let seconds = [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ];
        let recorder = PrometheusBuilder::new()
            .set_buckets(&seconds)
            .expect("static buckets are valid")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!(
                "a metrics recorder was already installed; /metrics shows only this one's"
            );
        }
        handle
    })
}

/// `/metrics`: counters and histograms recorded as commands run, plus the live state of every env
/// (read at scrape time, one round trip) so the gauges are never stale.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let handle = prometheus();
    let envs = state.baton.catalog().envs().iter().collect();
    match state.baton.env_states(envs).await {
        Ok((states, _)) => {
            let count = |f: &dyn Fn(&baton_commands::EnvState) -> bool| {
                states.iter().filter(|s| f(s)).count() as f64
            };
            metrics::gauge!("baton_active_locks").set(count(&|s| s.lock.is_some()));
            metrics::gauge!("baton_active_claims").set(count(&|s| s.claim.is_some()));
            metrics::gauge!("baton_frozen_envs").set(count(&|s| s.freeze.is_some()));
            metrics::gauge!("baton_queued_waiters")
                .set(states.iter().map(|s| s.queued).sum::<usize>() as f64);
            metrics::gauge!("baton_store_up").set(1.0);
        }
        Err(_) => metrics::gauge!("baton_store_up").set(0.0),
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        handle.render(),
    )
}

async fn openapi(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        state.openapi.to_string(),
    )
}

/// `/readyz`: ready when Baton could take a lock now. A full Redis is not ready (every change is
/// refused) though reads still answer; the body names the cause either way.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.baton.store().ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"ready": true}))),
        Err(StoreError::Full) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "error": "store_full",
                "message": "the state store (Redis) is full: it refuses every lock, unlock and \
                    freeze until memory is freed or maxmemory raised; status, the env view and \
                    the gate still answer"})),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "error": "store_unavailable",
                "message": format!("{e}; Baton reconnects by itself once it is fixed or back")})),
        ),
    }
}

/// What `serve` checks as it starts: Baton's functions are loaded (before it answers; asking is a
/// read), then, beside serving, Redis' clock is read (it decides calendar windows and `until`s;
/// see `store/clock.rs`) and Baton's Redis user may call its functions (a missing ACL
/// permission is named now, not at the first lock). Each only
/// warns: Baton starts while Redis is down and does each of these by itself once it is back, so
/// the rest is skipped when Redis cannot be reached at all.
async fn start_up_checks(store: &Store, catalog: &Catalog) {
    use baton_commands::store::Cause;
    if let Err(e) = store.ensure_loaded().await {
        tracing::warn!(error = %e, "could not load Baton's functions at start-up; they load on first use");
        if matches!(
            e,
            StoreError::Unknown | StoreError::Unavailable(Cause::Unreachable | Cause::Timeout)
        ) {
            return;
        }
    }
    // The rest runs beside serving: the access check is a call Redis may refuse to run while it
    // refuses writes (`CLIENT PAUSE WRITE`, a failover), and that must not hold start-up.
    let store = store.clone();
    let catalog = catalog.clone();
    tokio::spawn(async move {
        match store.move_old_queues(&catalog).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                waiters = n,
                "moved queues an earlier version left to today's layout"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "could not move queues an earlier version left; start Baton again once Redis answers")
            }
        }
        if let Err(e) = store.learn_clock().await {
            tracing::warn!(error = %e, "could not read Redis' clock at start-up; it is read before the first call that needs it");
        }
        if let Err(missing) = store.check_access().await {
            tracing::warn!("{missing}");
        }
    });
}

/// Runs the service until `shutdown` resolves: HTTP on `listener`, the expiry sweeper, and the
/// notifier when a platform can deliver messages.
pub async fn run(
    config: &Config,
    baton: Baton,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    prometheus(); // before the first command, so nothing recorded is lost
    start_up_checks(baton.store(), baton.catalog()).await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sweeper = {
        let baton = baton.clone();
        let interval = config.server.sweep_interval;
        let mut rx = stop_rx.clone();
        tokio::spawn(async move {
            baton
                .run_sweeper(interval, async move {
                    let _ = rx.changed().await;
                })
                .await
        })
    };
    // Subscribe to the event bus now, so the first waiter never starts on a cold subscription.
    baton.events();
    // Announcements, reminders and hand-off notices, when a platform can post them.
    let deliveries = crate::platforms::deliveries(config, &baton);
    let notifier = (!deliveries.is_empty()).then(|| {
        let notifier = Notifier::new(&baton, config, deliveries);
        let mut rx = stop_rx.clone();
        tokio::spawn(notifier.run(async move {
            let _ = rx.changed().await;
        }))
    });
    crate::platforms::spawn_background(config, &baton, &stop_rx)?;
    let platforms = crate::platforms::routes(config, &baton)?;
    let upkeep = tokio::spawn(metrics_upkeep(stop_rx.clone()));
    let closing = baton.clone();
    let app = router(AppState::new(config, baton), platforms);
    let limits = crate::serve::Limits::from_config(&config.server);
    crate::serve::serve(listener, app, limits, async move {
        shutdown.await;
        tracing::info!("shutting down: answering waiters, finishing in-flight requests");
        closing.begin_shutdown();
        let _ = stop_tx.send(true);
    })
    .await;
    let _ = sweeper.await;
    let _ = upkeep.await;
    if let Some(notifier) = notifier {
        let _ = notifier.await;
    }
    Ok(())
}

/// Histograms keep every sample until the recorder's upkeep drains them into their summaries.
/// Left to `/metrics`, that never happens where nobody scrapes, and memory grows with every
/// request (the metrics-exporter-prometheus docs: call `run_upkeep` periodically when the
/// recorder is built by hand). Every 5 seconds, as the exporter's own installer does.
async fn metrics_upkeep(mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut every = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = every.tick() => prometheus().run_upkeep(),
            _ = stop.changed() => return,
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
