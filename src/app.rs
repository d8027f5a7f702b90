//! The HTTP application and the long-running service around it. Servers take a listener and a
//! shutdown future, so tests bind port 0 and stop them when they are done.

use std::future::Future;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use baton_adapters::ci::{self, CiState};
use baton_commands::config::Config;
use baton_commands::store::Store;
use baton_commands::Baton;
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// Largest request body any route accepts.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Shared state of every route.
#[derive(Clone)]
pub struct AppState {
    /// The core.
    pub baton: Baton,
    /// The CI API's tokens and limits.
    pub ci: CiState,
}

impl AppState {
    /// The state for `config`'s routes over `baton`.
    pub fn new(config: &Config, baton: Baton) -> Self {
        Self {
            ci: CiState::new(baton.clone(), &config.ci),
            baton,
        }
    }
}

/// Builds the core for a config: a store that connects lazily, so Baton starts while Redis is down.
pub fn build(config: &Config) -> anyhow::Result<Baton> {
    let store = Store::connect(&config.redis, config.defaults.history_length)?;
    Ok(Baton::new(config, store))
}

/// The routes: health, the CI API, and every configured chat platform's.
pub fn router(state: AppState, platforms: Router) -> Router {
    // Every route is bounded; a CI lock request may legitimately wait up to `ci.max_wait`.
    let bound = state.ci.max_wait() + Duration::from_secs(30);
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/openapi.json", get(openapi))
        .with_state(state.clone())
        .merge(ci::routes(state.ci))
        .merge(platforms)
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(axum::middleware::map_response(json_body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            bound,
        ))
        .layer(TraceLayer::new_for_http())
}

/// The body limit answers 413 in plain text before any handler runs; the API promises JSON.
async fn json_body_limit(response: axum::response::Response) -> axum::response::Response {
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return response;
    }
    let message = format!(
        "the request body is over the limit of {} KiB",
        BODY_LIMIT / 1024
    );
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        Json(json!({"error": "too_large", "message": message})),
    )
        .into_response()
}

async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.baton.store().ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"ready": true}))),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "error": "store_unavailable",
                "message": "Redis is not reachable; Baton will reconnect by itself when it is back"})),
        ),
    }
}

/// Runs the service until `shutdown` resolves: HTTP on `listener` and the expiry sweeper.
pub async fn run(
    config: &Config,
    baton: Baton,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if let Err(e) = baton.store().load_scripts().await {
        tracing::warn!(error = %e, "could not load scripts at start-up; they load on first use");
    }
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
    crate::platforms::spawn_background(config, &baton, &stop_rx)?;
    let platforms = crate::platforms::routes(config, &baton)?;
    let app = router(AppState::new(config, baton), platforms);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        })
        .await;
    let _ = sweeper.await;
    served?;
    Ok(())
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
