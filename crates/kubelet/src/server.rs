//! The agent's HTTPS server (upstream's kubelet port, 10250): container logs
//! for the API server's `pods/log`. A self-signed certificate (the API server
//! does not verify kubelet certificates by default, as upstream); requests
//! must carry the node join token as a bearer token.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::KubeletConfig;
use crate::error::KubeletError;
use crate::labels;
use crate::logs::{self, LogOptions};
use crate::runtime::{Runtime, proto};

/// How often a followed log is read again.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

struct Shared<R> {
    runtime: Arc<R>,
    node: String,
    token: String,
}

/// A text error answer.
fn text(code: StatusCode, message: impl Into<String>) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.into(),
    )
        .into_response()
}

/// True when `headers` carry `token` as a bearer token.
pub(crate) fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    // Constant time in the token's length.
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The router, without TLS (tests call it directly).
pub fn router<R: Runtime>(runtime: Arc<R>, node: &str, token: &str) -> Router {
    let shared = Arc::new(Shared {
        runtime: runtime.clone(),
        node: node.to_string(),
        token: token.to_string(),
    });
    Router::new()
        .merge(crate::stats::routes(shared.runtime.clone(), node, token))
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/containerLogs/{namespace}/{pod}/{container}",
            get(container_logs::<R>),
        )
        .with_state(shared)
        .merge(crate::streaming::router(runtime, node, token))
}

async fn container_logs<R: Runtime>(
    State(s): State<Arc<Shared<R>>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers, &s.token) {
        return text(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let opts = match LogOptions::parse(query.as_deref().unwrap_or(""), jiff::Timestamp::now()) {
        Ok(o) => o,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let mut selector = labels::named_pod_selector(&s.node, &namespace, &pod);
    selector.insert(labels::CONTAINER_NAME.to_string(), container.clone());
    let mut found = match s.runtime.list_containers(selector).await {
        Ok(c) => c,
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    found.sort_by_key(|c| std::cmp::Reverse(c.created_at));
    let pick = match &opts.container_id {
        Some(id) => found.iter().find(|c| &c.id == id),
        None if opts.previous => found.get(1),
        None => found.first(),
    };
    let Some(c) = pick else {
        return if opts.previous && opts.container_id.is_none() {
            text(
                StatusCode::BAD_REQUEST,
                format!("previous terminated container \"{container}\" in pod \"{pod}\" not found"),
            )
        } else {
            text(
                StatusCode::NOT_FOUND,
                format!("container \"{container}\" in pod \"{pod}\" is not available"),
            )
        };
    };
    let status = match s.runtime.container_status(&c.id).await {
        Ok(st) => st,
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let path = std::path::PathBuf::from(&status.log_path);
    let data = match logs::read_from(&path, 0) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let mut at_line_start = true;
    let (mut first, used) = logs::render(&data, &opts, &mut at_line_start);
    let mut remaining = opts.limit_bytes.unwrap_or(usize::MAX);
    first.truncate(remaining);
    remaining -= first.len();
    let running = status.state == proto::ContainerState::ContainerRunning as i32;
    if !opts.follow || !running || remaining == 0 {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain")],
            first,
        )
            .into_response();
    }

    // Follow: the rest of the file as it grows, until the container stops.
    let follow_opts = LogOptions {
        tail_lines: None,
        ..opts.clone()
    };
    let state = Follow {
        runtime: s.runtime.clone(),
        id: c.id.clone(),
        path,
        offset: used as u64,
        pending: data[used..].to_vec(),
        at_line_start,
        remaining,
        opts: follow_opts,
        first: Some(first),
        finished: false,
    };
    let stream = futures::stream::unfold(state, |mut st| async move {
        let chunk = st.next().await?;
        Some((Ok::<Bytes, std::io::Error>(chunk), st))
    });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// A followed log.
struct Follow<R> {
    runtime: Arc<R>,
    id: String,
    path: std::path::PathBuf,
    /// Bytes of the file read so far (including `pending`).
    offset: u64,
    /// An incomplete last line.
    pending: Vec<u8>,
    at_line_start: bool,
    remaining: usize,
    opts: LogOptions,
    first: Option<Vec<u8>>,
    finished: bool,
}

impl<R: Runtime> Follow<R> {
    /// The next piece of output; `None` at the end.
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(first) = self.first.take().filter(|f| !f.is_empty()) {
            return Some(Bytes::from(first));
        }
        loop {
            if self.finished || self.remaining == 0 {
                return None;
            }
            let read_at = self.offset + self.pending.len() as u64;
            if let Ok(more) = logs::read_from(&self.path, read_at) {
                self.pending.extend_from_slice(&more);
            }
            let (mut out, used) = logs::render(&self.pending, &self.opts, &mut self.at_line_start);
            self.pending.drain(..used);
            self.offset += used as u64;
            out.truncate(self.remaining);
            self.remaining -= out.len();
            if !out.is_empty() {
                return Some(Bytes::from(out));
            }
            let running = self
                .runtime
                .container_status(&self.id)
                .await
                .is_ok_and(|s| s.state == proto::ContainerState::ContainerRunning as i32);
            if !running {
                // One last read for what the container wrote as it ended.
                self.finished = true;
                if let Ok(more) =
                    logs::read_from(&self.path, self.offset + self.pending.len() as u64)
                {
                    self.pending.extend_from_slice(&more);
                }
                self.pending.push(b'\n');
                let (mut out, _) = logs::render(&self.pending, &self.opts, &mut self.at_line_start);
                out.truncate(self.remaining);
                return (!out.is_empty()).then(|| Bytes::from(out));
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    }
}

fn tls_config(names: Vec<String>) -> Result<Arc<rustls::ServerConfig>, KubeletError> {
    let err = |m: String| KubeletError::Config(format!("kubelet serving certificate: {m}"));
    let key = rcgen::generate_simple_self_signed(names).map_err(|e| err(e.to_string()))?;
    let cert = key.cert.der().clone();
    let private = rustls::pki_types::PrivateKeyDer::Pkcs8(
        rustls::pki_types::PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()),
    );
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![cert], private)
        .map_err(|e| err(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Serves on `config.kubelet_port` until `stop`.
pub async fn serve<R: Runtime>(
    runtime: Arc<R>,
    config: Arc<KubeletConfig>,
    token: String,
    node_ip: IpAddr,
    stop: CancellationToken,
) -> Result<(), KubeletError> {
    let addr = SocketAddr::new(config.kubelet_address, config.kubelet_port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| KubeletError::io("listening on", addr.to_string(), e))?;
    let names = vec![
        config.node_name.clone(),
        node_ip.to_string(),
        "localhost".into(),
        "127.0.0.1".into(),
    ];
    let acceptor = TlsAcceptor::from(tls_config(names)?);
    let app = router(runtime, &config.node_name, &token);
    tracing::info!(%addr, "serving the kubelet API");
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let (acceptor, app, stop) = (acceptor.clone(), app.clone(), stop.clone());
        tokio::spawn(
            async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let app = app.clone();
                        async move {
                            use tower::ServiceExt;
                            app.oneshot(req.map(Body::new)).await
                        }
                    },
                );
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
                tokio::select! {
                    _ = stop.cancelled() => {}
                    r = conn => if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended with error");
                    },
                }
            }
            .instrument(tracing::debug_span!("kubelet-conn", %peer)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fake::FakeRuntime;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get(app: &Router, uri: &str, token: Option<&str>) -> (StatusCode, String) {
        let mut req = axum::http::Request::get(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
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
    async fn serves_container_logs_to_the_token_holder() {
        let rt = Arc::new(FakeRuntime::new());
        let dir = tempfile::tempdir().unwrap();
        let sb = rt
            .run_pod_sandbox(proto::PodSandboxConfig::default())
            .await
            .unwrap();
        let log = dir.path().join("0.log");
        std::fs::write(&log, "2026-01-01T00:00:01Z stdout F Hello Kubernetes!\n").unwrap();
        let config = proto::ContainerConfig {
            metadata: Some(proto::ContainerMetadata {
                name: "app".into(),
                attempt: 0,
            }),
            labels: std::collections::HashMap::from([
                (labels::NODE_NAME.to_string(), "n1".to_string()),
                (labels::POD_NAMESPACE.to_string(), "default".to_string()),
                (labels::POD_NAME.to_string(), "p".to_string()),
                (labels::CONTAINER_NAME.to_string(), "app".to_string()),
            ]),
            log_path: log.display().to_string(),
            ..Default::default()
        };
        rt.create_container(&sb, config, Default::default())
            .await
            .unwrap();
        let app = router(rt, "n1", "secret");

        assert_eq!(
            get(&app, "/healthz", None).await,
            (StatusCode::OK, "ok".into())
        );
        let uri = "/containerLogs/default/p/app";
        assert_eq!(get(&app, uri, None).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(
            get(&app, uri, Some("wrong")).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            get(&app, uri, Some("secret")).await,
            (StatusCode::OK, "Hello Kubernetes!\n".into())
        );
        assert_eq!(
            get(&app, &format!("{uri}?timestamps=true"), Some("secret"))
                .await
                .1,
            "2026-01-01T00:00:01Z Hello Kubernetes!\n"
        );
        let (code, body) = get(&app, &format!("{uri}?previous=true"), Some("secret")).await;
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            "previous terminated container \"app\" in pod \"p\" not found"
        );
        assert_eq!(
            get(&app, "/containerLogs/default/p/other", Some("secret"))
                .await
                .0,
            StatusCode::NOT_FOUND
        );
    }
}
