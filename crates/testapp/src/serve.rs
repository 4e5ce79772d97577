//! The HTTP server of `testapp serve`.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use tokio::sync::mpsc;

/// Flags of `testapp serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct Options {
    /// TCP port to listen on (all addresses).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// /healthz fails while this file exists.
    #[arg(long)]
    pub fail_file: Option<PathBuf>,
}

/// What the handlers share.
#[derive(Clone)]
struct AppState {
    healthy: Arc<AtomicBool>,
    fail_file: Option<PathBuf>,
    exit: mpsc::Sender<u8>,
}

/// Runs the server until SIGTERM/SIGINT (status 0) or `/exit?code=N` (status N).
pub async fn serve(options: Options) -> ExitCode {
    let (exit_tx, mut exit_rx) = mpsc::channel(1);
    let app = router(AppState {
        healthy: Arc::new(AtomicBool::new(true)),
        fail_file: options.fail_file,
        exit: exit_tx,
    });
    let listener = match tokio::net::TcpListener::bind(("0.0.0.0", options.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("testapp: listen on port {}: {e}", options.port);
            return ExitCode::FAILURE;
        }
    };
    println!("testapp: serving on port {}", options.port);
    let code = Arc::new(AtomicU8::new(0));
    let exit_code = code.clone();
    let shutdown = async move {
        tokio::select! {
            () = terminated() => println!("testapp: terminated, exiting"),
            Some(c) = exit_rx.recv() => {
                println!("testapp: exiting with code {c}");
                exit_code.store(c, Ordering::SeqCst);
            }
        }
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        eprintln!("testapp: serve: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::from(code.load(Ordering::SeqCst))
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(hostname_handler))
        .route("/hostname", get(hostname_handler))
        .route("/healthz", get(healthz))
        .route("/flip", get(flip).post(flip))
        .route("/echo", get(echo))
        .route("/exit", get(exit).post(exit))
        .with_state(state)
}

async fn hostname_handler() -> String {
    hostname()
}

async fn healthz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    let failing = state.fail_file.as_ref().is_some_and(|p| p.exists());
    if state.healthy.load(Ordering::SeqCst) && !failing {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::INTERNAL_SERVER_ERROR, "unhealthy")
    }
}

async fn flip(State(state): State<AppState>) -> &'static str {
    let was = state.healthy.fetch_xor(true, Ordering::SeqCst);
    println!(
        "testapp: /healthz now {}",
        if was { "failing" } else { "ok" }
    );
    if was { "unhealthy" } else { "healthy" }
}

async fn echo(Query(query): Query<HashMap<String, String>>) -> String {
    query.get("msg").cloned().unwrap_or_default()
}

async fn exit(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> (StatusCode, String) {
    let code = match query.get("code").map(|c| c.parse::<u8>()) {
        None => 0,
        Some(Ok(code)) => code,
        Some(Err(_)) => return (StatusCode::BAD_REQUEST, "code must be 0-255".into()),
    };
    // Graceful shutdown lets this answer go out before the process exits.
    let _ = state.exit.try_send(code);
    (StatusCode::OK, format!("exiting with code {code}"))
}

/// The host name (the pod's name inside a pod).
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".to_string())
}

/// Resolves on SIGTERM or SIGINT.
pub async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending::<()>().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn app() -> (Router, mpsc::Receiver<u8>, AppState) {
        let (tx, rx) = mpsc::channel(1);
        let state = AppState {
            healthy: Arc::new(AtomicBool::new(true)),
            fail_file: None,
            exit: tx,
        };
        (router(state.clone()), rx, state)
    }

    async fn get(app: &Router, uri: &str) -> (StatusCode, String) {
        let response = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn hostname_and_echo() {
        let (app, _rx, _) = app();
        assert_eq!(get(&app, "/").await, (StatusCode::OK, hostname()));
        assert_eq!(get(&app, "/hostname").await.1, hostname());
        assert_eq!(
            get(&app, "/echo?msg=hello%20pi").await,
            (StatusCode::OK, "hello pi".to_string())
        );
    }

    #[tokio::test]
    async fn healthz_flips() {
        let (app, _rx, _) = app();
        assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
        assert_eq!(get(&app, "/flip").await.1, "unhealthy");
        assert_eq!(
            get(&app, "/healthz").await.0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(get(&app, "/flip").await.1, "healthy");
        assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn healthz_fails_while_the_file_exists() {
        let dir = std::env::temp_dir().join(format!("testapp-{}", std::process::id()));
        let (tx, _rx) = mpsc::channel(1);
        let app = router(AppState {
            healthy: Arc::new(AtomicBool::new(true)),
            fail_file: Some(dir.clone()),
            exit: tx,
        });
        assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
        std::fs::write(&dir, "x").unwrap();
        assert_eq!(
            get(&app, "/healthz").await.0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn exit_sends_the_code() {
        let (app, mut rx, _) = app();
        assert_eq!(get(&app, "/exit?code=3").await.0, StatusCode::OK);
        assert_eq!(rx.recv().await, Some(3));
        assert_eq!(get(&app, "/exit?code=x").await.0, StatusCode::BAD_REQUEST);
    }
}
