//! Hands an upgrade request on to the container runtime's streaming server
//! (plain HTTP on loopback, as containerd serves it) and, once it switches
//! protocols, splices the two connections byte for byte.

use std::time::Duration;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::Refusal;

/// Bound on connecting to the runtime's streaming server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on the streaming server answering the upgrade request.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of a refusal's body passed back.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Headers never passed on to the runtime.
fn passed(name: &header::HeaderName) -> bool {
    ![
        header::AUTHORIZATION,
        header::HOST,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::COOKIE,
    ]
    .contains(name)
}

/// True when the request asks to switch protocols (`Connection: Upgrade`
/// and an `Upgrade` token).
pub fn asks_upgrade(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    connection_upgrade && headers.contains_key(header::UPGRADE)
}

/// Copies the headers worth passing on.
pub fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (k, v) in from {
        if passed(k) {
            to.append(k.clone(), v.clone());
        }
    }
}

/// The runtime's answer to an upgrade request.
pub enum Upstream {
    /// It switched protocols: its answer's headers and the connection.
    Switched(HeaderMap, hyper::upgrade::Upgraded),
    /// It refused: its answer, to pass back.
    Refused(Response),
}

/// Sends `method url` with `headers` to the runtime's streaming server.
pub async fn connect(
    method: axum::http::Method,
    url: &str,
    headers: &HeaderMap,
) -> Result<Upstream, Refusal> {
    let bad = |m: String| Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, m);
    let uri: Uri = url
        .parse()
        .map_err(|e| bad(format!("bad streaming URL {url:?}: {e}")))?;
    if uri.scheme_str() != Some("http") {
        return Err(bad(format!("unsupported streaming URL {url:?}")));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| bad(format!("bad streaming URL {url:?}")))?
        .clone();
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(authority.as_str()))
        .await
        .map_err(|_| bad(format!("dialing {authority}: timed out")))?
        .map_err(|e| bad(format!("dialing {authority}: {e}")))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| bad(format!("connecting to {authority}: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "streaming server connection ended");
        }
    });
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .body(Empty::<Bytes>::new())
        .map_err(|e| bad(e.to_string()))?;
    copy_headers(headers, req.headers_mut());
    if let Ok(h) = HeaderValue::from_str(authority.as_str()) {
        req.headers_mut().insert(header::HOST, h);
    }
    let mut resp = tokio::time::timeout(RESPONSE_TIMEOUT, sender.send_request(req))
        .await
        .map_err(|_| bad(format!("streaming request to {authority}: timed out")))?
        .map_err(|e| bad(format!("streaming request to {authority}: {e}")))?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        let status = resp.status();
        let ct = resp.headers().get(header::CONTENT_TYPE).cloned();
        let body = Limited::new(resp.into_body(), MAX_ERROR_BODY)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let mut r = Response::new(Body::from(body));
        *r.status_mut() = status;
        if let Some(ct) = ct {
            r.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        return Ok(Upstream::Refused(r));
    }
    let headers = std::mem::take(resp.headers_mut());
    let upgraded = hyper::upgrade::on(resp)
        .await
        .map_err(|e| bad(format!("upgrading the connection to {authority}: {e}")))?;
    Ok(Upstream::Switched(headers, upgraded))
}

/// Proxies `req` to the runtime's streaming server at `url`, splicing the
/// connections once both switch protocols.
pub async fn upgrade(mut parts: Parts, url: &str) -> Response {
    let Some(client) = parts.extensions.remove::<OnUpgrade>() else {
        return Refusal::new(
            StatusCode::BAD_REQUEST,
            "Upgrade request required: the connection cannot be upgraded",
        )
        .into_response();
    };
    let (headers, upstream) = match connect(parts.method, url, &parts.headers).await {
        Ok(Upstream::Switched(h, u)) => (h, u),
        Ok(Upstream::Refused(r)) => return r,
        Err(r) => return r.into_response(),
    };
    tokio::spawn(async move {
        match client.await {
            Ok(client) => splice(client, upstream).await,
            Err(e) => tracing::debug!(error = %e, "client upgrade failed"),
        }
    });
    switched(&headers)
}

/// A 101 answer carrying `headers` (those of the upstream's 101).
pub fn switched(headers: &HeaderMap) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    copy_headers(headers, r.headers_mut());
    r
}

/// Copies bytes both ways until both sides are done.
pub async fn splice(a: hyper::upgrade::Upgraded, b: hyper::upgrade::Upgraded) {
    let (mut a, mut b) = (TokioIo::new(a), TokioIo::new(b));
    match tokio::io::copy_bidirectional(&mut a, &mut b).await {
        Ok((up, down)) => tracing::debug!(up, down, "stream finished"),
        Err(e) => tracing::debug!(error = %e, "stream ended with error"),
    }
}
