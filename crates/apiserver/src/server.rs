//! The HTTPS listener and the router: health, version, discovery, OpenAPI and resources.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State as AxState};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tracing::Instrument;

use crate::discovery;
use crate::error::ApiError;
use crate::request::{Query, Target, parse_path};
use crate::rest::body::{self, MAX_BODY};
use crate::state::State;

/// Builds the router over the shared state.
pub fn router(state: State) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route(
            "/cacerts",
            get(|AxState(state): AxState<State>| async move { state.ca_pem.clone() }),
        )
        .route(
            "/version",
            get(|| async { axum::Json(discovery::version()) }),
        )
        .route("/openapi/v2", get(openapi_v2))
        .route("/openapi/v3", get(openapi_v3_index))
        .route("/openapi/v3/{*path}", get(openapi_v3))
        .fallback(api)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

async fn readyz(AxState(state): AxState<State>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        "ok".into_response()
    } else {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "[-]startup not finished\nreadyz check failed",
        )
            .into_response()
    }
}

async fn authenticate(AxState(state): AxState<State>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if crate::auth::is_public_path(path) {
        return next.run(req).await;
    }
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match state.auth.authenticate(header) {
        Some(_user) => next.run(req).await,
        None => ApiError::Unauthorized.into_response(),
    }
}

fn bytes_response(content_type: &'static str, body: impl Into<bytes::Bytes>) -> Response {
    let mut r = (StatusCode::OK, body.into()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

async fn openapi_v2(headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let wants_proto = accept.contains("protobuf") && !accept.contains("application/json");
    if wants_proto {
        let doc = tokio::task::spawn_blocking(|| rkube_openapi::v2_document_protobuf().clone())
            .await
            .unwrap_or_default();
        return bytes_response(rkube_openapi::V2_PROTOBUF_CONTENT_TYPE, doc);
    }
    let doc = tokio::task::spawn_blocking(|| rkube_openapi::v2_document().clone())
        .await
        .unwrap_or_default();
    bytes_response("application/json", doc)
}

async fn openapi_v3_index() -> Response {
    let doc = tokio::task::spawn_blocking(rkube_openapi::v3_index)
        .await
        .unwrap_or(b"{}");
    bytes_response("application/json", doc)
}

async fn openapi_v3(axum::extract::Path(path): axum::extract::Path<String>) -> Response {
    let p = path.clone();
    let doc = tokio::task::spawn_blocking(move || rkube_openapi::v3_group_version(&p))
        .await
        .ok()
        .flatten();
    match doc {
        Some(doc) => {
            let mut r = bytes_response("application/json", doc);
            if let Some(h) = rkube_openapi::v3_hash(&path)
                .and_then(|h| HeaderValue::from_str(&format!("\"{h}\"")).ok())
            {
                r.headers_mut().insert(header::ETAG, h);
                r.headers_mut().insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, immutable"),
                );
            }
            r
        }
        None => ApiError::no_such_resource().into_response(),
    }
}

/// Which aggregated discovery version the client accepts, if any.
fn aggregated_discovery(headers: &HeaderMap) -> Option<&'static str> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())?;
    for part in accept.split(',') {
        if !part.contains("as=APIGroupDiscoveryList") || !part.contains("g=apidiscovery.k8s.io") {
            continue;
        }
        if part.contains("v=v2beta1") {
            return Some("v2beta1");
        }
        if part.contains("v=v2") {
            return Some("v2");
        }
    }
    None
}

fn discovery_response(headers: &HeaderMap, core: bool, server_address: &str) -> Response {
    match aggregated_discovery(headers) {
        Some(v) => {
            let doc = discovery::aggregated(core, &format!("apidiscovery.k8s.io/{v}"));
            let mut r = body::value_response(StatusCode::OK, &doc);
            let ct =
                format!("application/json;g=apidiscovery.k8s.io;v={v};as=APIGroupDiscoveryList");
            if let Ok(h) = HeaderValue::from_str(&ct) {
                r.headers_mut().insert(header::CONTENT_TYPE, h);
            }
            r.headers_mut()
                .insert(header::VARY, HeaderValue::from_static("Accept"));
            r
        }
        None if core => {
            body::value_response(StatusCode::OK, &discovery::core_versions(server_address))
        }
        None => body::value_response(StatusCode::OK, &discovery::groups()),
    }
}

async fn api(AxState(state): AxState<State>, req: Request) -> Response {
    match serve_api(state, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn serve_api(state: State, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let q = Query::parse(parts.uri.query());
    let target = parse_path(&path)?;
    let Some(target) = target else {
        return Err(ApiError::no_such_resource());
    };
    // Streaming subresources upgrade the connection: they keep the request's parts.
    if let Target::Resource(r) = &target
        && crate::rest::pod_stream::handles(r)
    {
        return crate::rest::pod_stream::serve(&state, r, &q, parts).await;
    }
    let raw = match http_body_util::Limited::new(body, MAX_BODY + 1)
        .collect()
        .await
    {
        Ok(c) => c.to_bytes(),
        Err(_) => return Err(ApiError::TooLarge),
    };
    if raw.len() > MAX_BODY {
        return Err(ApiError::TooLarge);
    }
    match target {
        Target::CoreVersions => Ok(discovery_response(
            &parts.headers,
            true,
            &state.server_address,
        )),
        Target::Groups => Ok(discovery_response(
            &parts.headers,
            false,
            &state.server_address,
        )),
        Target::Group(g) => discovery::group(&g)
            .map(|v| body::value_response(StatusCode::OK, &v))
            .ok_or_else(ApiError::no_such_resource),
        Target::ResourceList { group, version } => Ok(body::value_response(
            StatusCode::OK,
            &discovery::resource_list(&group, &version),
        )),
        Target::Resource(r) => {
            crate::rest::handle(state, r, parts.method, q, parts.headers, raw).await
        }
    }
}

/// Accepts TLS connections and serves them until `state.stop` fires.
pub async fn serve(state: State, listener: TcpListener, tls: Arc<rustls::ServerConfig>) {
    let acceptor = TlsAcceptor::from(tls);
    let app = router(state.clone());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            _ = state.stop.cancelled() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(
            async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return;
                    }
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
                let conn = watcher.watch(conn.into_owned());
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "connection ended with error");
                }
            }
            .instrument(tracing::debug_span!("conn", %peer)),
        );
    }
    // Watches would hold shutdown forever; give connections a moment, then go.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), graceful.shutdown()).await;
}
