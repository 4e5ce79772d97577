//! Streaming for `kubectl exec`, `attach`, `cp` and `port-forward`: the
//! agent finds the running container (or the pod's sandbox), asks the runtime
//! over CRI for a streaming URL, and proxies the client's upgrade request to
//! it. SPDY/3.1 and WebSocket v1–v4 pass through untouched (containerd
//! serves them); WebSocket `v5.channel.k8s.io` is translated to SPDY
//! ([`channel`]) and tunneled port forwarding is unwrapped ([`tunnel`]).

pub mod channel;
pub mod options;
pub mod proxy;
pub mod tunnel;
pub mod websocket;
pub mod wsio;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::labels;
use crate::runtime::{Runtime, proto};
use options::StreamOptions;

struct Ctx<R> {
    runtime: Arc<R>,
    node: String,
    token: String,
}

/// A text answer.
pub(crate) fn text(code: StatusCode, message: impl Into<String>) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.into(),
    )
        .into_response()
}

/// A refused streaming request: a status and a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub code: StatusCode,
    /// The text answered.
    pub message: String,
}

impl Refusal {
    /// A refusal with `code` and `message`.
    pub fn new(code: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        text(self.code, self.message)
    }
}

/// The streaming routes; requests must carry `token` as a bearer token.
pub fn router<R: Runtime>(runtime: Arc<R>, node: &str, token: &str) -> Router {
    let ctx = Arc::new(Ctx {
        runtime,
        node: node.to_string(),
        token: token.to_string(),
    });
    Router::new()
        .route(
            "/exec/{namespace}/{pod}/{container}",
            get(exec::<R>).post(exec::<R>),
        )
        .route(
            "/attach/{namespace}/{pod}/{container}",
            get(attach::<R>).post(attach::<R>),
        )
        .route(
            "/portForward/{namespace}/{pod}",
            get(port_forward::<R>).post(port_forward::<R>),
        )
        .with_state(ctx)
}

/// The id of the running instance of `container`, as the runtime lists it.
async fn running_container<R: Runtime>(
    ctx: &Ctx<R>,
    namespace: &str,
    pod: &str,
    container: &str,
) -> Result<String, Refusal> {
    let mut selector = labels::named_pod_selector(&ctx.node, namespace, pod);
    selector.insert(labels::CONTAINER_NAME.to_string(), container.to_string());
    let found = ctx
        .runtime
        .list_containers(selector)
        .await
        .map_err(|e| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.user_message()))?;
    found
        .into_iter()
        .filter(|c| c.state == proto::ContainerState::ContainerRunning as i32)
        .max_by_key(|c| c.created_at)
        .map(|c| c.id)
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("container not found ({container:?})"),
            )
        })
}

/// The id of the pod's ready sandbox.
async fn ready_sandbox<R: Runtime>(
    ctx: &Ctx<R>,
    namespace: &str,
    pod: &str,
) -> Result<String, Refusal> {
    let selector = labels::named_pod_selector(&ctx.node, namespace, pod);
    let found = ctx
        .runtime
        .list_pod_sandboxes(selector)
        .await
        .map_err(|e| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.user_message()))?;
    found
        .into_iter()
        .filter(|s| s.state == proto::PodSandboxState::SandboxReady as i32)
        .max_by_key(|s| s.created_at)
        .map(|s| s.id)
        .ok_or_else(|| {
            Refusal::new(
                StatusCode::NOT_FOUND,
                format!("pod not found (\"{pod}_{namespace}\")"),
            )
        })
}

/// Common checks; the parsed options.
fn admit<R>(ctx: &Ctx<R>, req: &Parts, query: Option<&str>) -> Result<StreamOptions, Refusal> {
    if !crate::server::authorized(&req.headers, &ctx.token) {
        return Err(Refusal::new(StatusCode::UNAUTHORIZED, "Unauthorized"));
    }
    if !proxy::asks_upgrade(&req.headers) {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "Upgrade request required",
        ));
    }
    StreamOptions::parse(query.unwrap_or("")).map_err(|e| Refusal::new(StatusCode::BAD_REQUEST, e))
}

/// How an exec or attach request is served: `None` for SPDY (passed
/// through), else the WebSocket mode (unknown subprotocols are refused, so
/// clients fall back to SPDY).
fn ws_mode(req: &Parts) -> Result<Option<channel::WsMode>, Refusal> {
    if websocket::is_websocket(&req.headers) {
        channel::ws_mode(&req.headers).map(Some)
    } else {
        Ok(None)
    }
}

/// Serves an exec or attach once the runtime gave its URL.
async fn serve_stream(
    req: Parts,
    mode: Option<channel::WsMode>,
    url: &str,
    opts: &StreamOptions,
) -> Response {
    match mode {
        Some(channel::WsMode::Translate) => channel::upgrade(req, url, opts).await,
        None | Some(channel::WsMode::PassThrough) => proxy::upgrade(req, url).await,
    }
}

async fn exec<R: Runtime>(
    State(ctx): State<Arc<Ctx<R>>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    req: Request,
) -> Response {
    let (req, _body) = req.into_parts();
    let result = async {
        let opts = admit(&ctx, &req, query.as_deref())?;
        opts.check_streams()?;
        if opts.command.is_empty() {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "you must specify a command",
            ));
        }
        let mode = ws_mode(&req)?;
        let id = running_container(&ctx, &namespace, &pod, &container).await?;
        let cri = proto::ExecRequest {
            container_id: id,
            cmd: opts.command.clone(),
            tty: opts.tty,
            stdin: opts.stdin,
            stdout: opts.stdout,
            stderr: opts.stderr && !opts.tty,
        };
        let url = ctx
            .runtime
            .exec(cri)
            .await
            .map_err(|e| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.user_message()))?;
        Ok((url, mode, opts))
    }
    .await;
    match result {
        Ok((url, mode, opts)) => serve_stream(req, mode, &url, &opts).await,
        Err(r) => r.into_response(),
    }
}

async fn attach<R: Runtime>(
    State(ctx): State<Arc<Ctx<R>>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    req: Request,
) -> Response {
    let (req, _body) = req.into_parts();
    let result = async {
        let opts = admit(&ctx, &req, query.as_deref())?;
        opts.check_streams()?;
        let mode = ws_mode(&req)?;
        let id = running_container(&ctx, &namespace, &pod, &container).await?;
        let cri = proto::AttachRequest {
            container_id: id,
            tty: opts.tty,
            stdin: opts.stdin,
            stdout: opts.stdout,
            stderr: opts.stderr && !opts.tty,
        };
        let url = ctx
            .runtime
            .attach(cri)
            .await
            .map_err(|e| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.user_message()))?;
        Ok::<_, Refusal>((url, mode, opts))
    }
    .await;
    match result {
        Ok((url, mode, opts)) => serve_stream(req, mode, &url, &opts).await,
        Err(r) => r.into_response(),
    }
}

async fn port_forward<R: Runtime>(
    State(ctx): State<Arc<Ctx<R>>>,
    Path((namespace, pod)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    req: Request,
) -> Response {
    let (req, _body) = req.into_parts();
    let result = async {
        let opts = admit(&ctx, &req, query.as_deref())?;
        let id = ready_sandbox(&ctx, &namespace, &pod).await?;
        ctx.runtime
            .port_forward(&id, opts.ports.clone())
            .await
            .map_err(|e| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.user_message()))
    }
    .await;
    match result {
        // Tunneled SPDY is unwrapped; SPDY and the legacy WebSocket
        // protocol pass through.
        Ok(url) if tunnel::wants_tunnel(&req.headers) => tunnel::upgrade(req, &url).await,
        Ok(url) => proxy::upgrade(req, &url).await,
        Err(r) => r.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fake::FakeRuntime;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn call(app: &Router, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
        let mut req = axum::http::Request::post(uri).header("connection", "Upgrade");
        if !headers.iter().any(|(k, _)| *k == "upgrade") {
            req = req.header("upgrade", "SPDY/3.1");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let code = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (code, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn streaming_requests_are_checked_before_the_runtime_is_asked() {
        let rt = Arc::new(FakeRuntime::new());
        let app = router(rt.clone(), "n1", "secret");
        let auth = ("authorization", "Bearer secret");
        let exec = "/exec/default/p/app?command=ls&stdout=1";
        assert_eq!(call(&app, exec, &[]).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(
            call(&app, "/exec/default/p/app?command=ls", &[auth]).await,
            (
                StatusCode::BAD_REQUEST,
                "you must specify at least 1 of stdin, stdout, stderr".into()
            )
        );
        assert_eq!(
            call(
                &app,
                exec,
                &[
                    auth,
                    ("upgrade", "websocket"),
                    ("sec-websocket-protocol", "v9.channel.k8s.io")
                ]
            )
            .await
            .0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            call(&app, exec, &[auth, ("upgrade", "SPDY/3.1")]).await,
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "container not found (\"app\")".into()
            )
        );
        assert_eq!(
            call(&app, "/portForward/default/p", &[auth]).await,
            (
                StatusCode::NOT_FOUND,
                "pod not found (\"p_default\")".into()
            )
        );
        let plain = axum::http::Request::post(exec)
            .header("authorization", "Bearer secret")
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(plain).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert!(rt.state().calls.iter().all(|c| !c.starts_with("Exec")));
    }
}
