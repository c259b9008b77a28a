//! The small HTTP server: `/metrics` (Prometheus text), `/healthz`, `/readyz`.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::telemetry::Telemetry;

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    telemetry: Telemetry,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(telemetry);
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

async fn metrics(State(telemetry): State<Telemetry>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], telemetry.metrics.encode())
}

async fn readyz(State(telemetry): State<Telemetry>) -> impl IntoResponse {
    match telemetry.health.readiness() {
        Ok(message) => (StatusCode::OK, message),
        Err(problem) => (StatusCode::SERVICE_UNAVAILABLE, problem),
    }
}
