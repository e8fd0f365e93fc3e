//! The status page: the feeds, the flow and the news at a glance, served by
//! the daemon with `[web] listen`.
//!
//! Pages are rendered on the server (maud escapes every value, so a hostile
//! title is text, never markup); a small script sorts and filters tables and
//! sends the revive button's request. Everything the page needs is compiled
//! in: no CDN, for closed networks. Every answer carries a
//! Content-Security-Policy that allows the page's own script and style only.
//! Anything that changes state is a POST with `Authorization: Bearer TOKEN`
//! (`[web] token` or `token_file`); without a token configured it is refused.

mod api;
mod auth;
mod chart;
mod pages;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::fetch::feeds::Feed;
use crate::observe::{Counters, health};
use crate::settings::Section;
use crate::state::Store;

/// `[web]`: the status page. Off unless `listen` is given.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Needed by anything that changes state (revive); none: such requests
    /// are refused.
    pub token: Option<String>,
    /// How long records stay in the window the page shows.
    pub keep: Duration,
    /// The most records the window holds.
    pub keep_records: usize,
}

impl Config {
    /// The section; `None` when the page is off (no `listen`).
    pub fn read(s: &mut Section<'_>) -> Option<Config> {
        let listen = s.str("listen");
        // `token_file` is read into `token` by the config reader, as any
        // `X_file` key is.
        let token = s.str("token").map(str::to_string);
        let keep_days = s.int("keep_days", 7, 1..=365);
        let keep_records = s.int("keep_records", 20_000, 100..=10_000_000) as usize;
        if token.as_deref().is_some_and(|t| t.len() < 16) {
            s.problem("token", "is shorter than 16 characters: too easy to guess");
        }
        let listen = listen?;
        match listen.parse() {
            Ok(listen) => Some(Config {
                listen,
                token,
                keep: Duration::from_secs(keep_days * 86_400),
                keep_records,
            }),
            Err(_) => {
                s.problem(
                    "listen",
                    format!("{listen:?} is not an address such as 127.0.0.1:8080"),
                );
                None
            }
        }
    }
}

/// What the pages and endpoints read.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    /// The configured feeds, for the feeds page and reviving.
    pub feeds: Arc<Vec<Feed>>,
    pub counters: Arc<Counters>,
    pub metrics: Option<PrometheusHandle>,
    pub token: Option<Arc<str>>,
    /// Further checks `/healthz` makes (the state store).
    pub probe: crate::observe::Probe,
}

/// Serves the status page on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let router = Router::new()
        .route("/", get(pages::overview))
        .route("/feeds", get(pages::feeds))
        .route("/news", get(pages::news))
        .route("/records/{id}", get(pages::record))
        .route("/trends", get(pages::trends))
        .route("/api/records", get(api::records))
        .route("/api/stats", get(api::stats))
        .route("/api/feeds", get(api::feeds))
        .route("/api/feeds/revive", post(api::revive))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .route("/static/icon.svg", get(icon))
        .layer(axum::middleware::map_response(secured))
        .with_state(app);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}

/// The page's own script and style, and nothing else: an injected script or
/// a tracking pixel in a hostile record does not run or load.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                      connect-src 'self'; base-uri 'none'; form-action 'self'; \
                      frame-ancestors 'none'";

async fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn metrics(axum::extract::State(app): axum::extract::State<App>) -> Response {
    match app.metrics {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => (axum::http::StatusCode::NOT_FOUND, "metrics are off\n").into_response(),
    }
}

async fn healthz(axum::extract::State(app): axum::extract::State<App>) -> Response {
    let mut problems = health().problems();
    let probe = app.probe.clone();
    problems.extend(
        tokio::task::spawn_blocking(move || probe())
            .await
            .unwrap_or_default(),
    );
    if problems.is_empty() {
        "ok\n".into_response()
    } else {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            problems.join("\n") + "\n",
        )
            .into_response()
    }
}

async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/app.css"),
    )
}

async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/app.js"),
    )
}

/// The tab's icon, named by every page: without it browsers ask for
/// `/favicon.ico` and log its 404 as an error on every page.
async fn icon() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "image/svg+xml")],
        include_str!("assets/icon.svg"),
    )
}
