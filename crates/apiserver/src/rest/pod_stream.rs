//! `pods/{name}/exec`, `attach` and `portforward`: checks the pod and the
//! container as upstream does, then proxies the client's upgrade request
//! (SPDY/3.1 or WebSocket) to the node agent's HTTPS server with the node
//! join token, and once the agent switches protocols splices the two
//! connections byte for byte. A refusal from the agent is passed back as it
//! came, so clients see the agent's reason (and fall back from WebSocket to
//! SPDY when the agent refuses the former).

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::error::ApiError;
use crate::meta;
use crate::request::{Query, ResourceRequest};
use crate::rest::pod_log::{get_json, is_simulated, kubelet_endpoint, pick_container};
use crate::state::AppState;

/// Bound on connecting to the node agent.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on the node agent answering the upgrade request (it asks the
/// runtime first).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// The most of a refusal's body passed back.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// True for the subresources served here.
pub fn handles(req: &ResourceRequest) -> bool {
    req.info.kind == "Pod"
        && req.name.is_some()
        && matches!(
            req.subresource.as_deref(),
            Some("exec" | "attach" | "portforward")
        )
}

/// Headers never passed on to the node agent: the user's credentials above
/// all (the agent gets the node token instead).
fn passed(name: &header::HeaderName) -> bool {
    ![
        header::AUTHORIZATION,
        header::PROXY_AUTHORIZATION,
        header::HOST,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
        header::COOKIE,
    ]
    .contains(name)
        && !name.as_str().starts_with("impersonate-")
}

fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (k, v) in from {
        if passed(k) {
            to.append(k.clone(), v.clone());
        }
    }
}

/// True when the request asks to switch protocols (`Connection: Upgrade`
/// and an `Upgrade` token).
fn asks_upgrade(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    connection_upgrade && headers.contains_key(header::UPGRADE)
}

/// The raw query without `container` (the agent's path names it).
fn agent_query(raw: Option<&str>) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        if k != "container" {
            out.append_pair(&k, &v);
        }
    }
    out.finish()
}

/// The path on the agent for the request.
fn agent_path(
    sub: &str,
    ns: &str,
    name: &str,
    container: Option<&str>,
    raw_query: Option<&str>,
) -> String {
    let path = match (sub, container) {
        ("exec", Some(c)) => format!("/exec/{ns}/{name}/{c}"),
        ("attach", Some(c)) => format!("/attach/{ns}/{name}/{c}"),
        _ => format!("/portForward/{ns}/{name}"),
    };
    let q = agent_query(raw_query);
    if q.is_empty() {
        path
    } else {
        format!("{path}?{q}")
    }
}

/// Serves an exec, attach or portforward request.
pub async fn serve(
    state: &AppState,
    req: &ResourceRequest,
    q: &Query,
    mut parts: Parts,
) -> Result<Response, ApiError> {
    if !matches!(parts.method.as_str(), "GET" | "POST") {
        return Err(ApiError::MethodNotAllowed);
    }
    let info = req.info;
    let sub = req.subresource.as_deref().unwrap_or("");
    let name = req.name.clone().unwrap_or_default();
    let ns = req.namespace.clone().unwrap_or_default();
    if ns.is_empty() {
        return Err(ApiError::bad_request("namespace must not be empty"));
    }
    let pod = get_json(state, &meta::key(info, &ns, &name))
        .await?
        .ok_or_else(|| ApiError::not_found(info, &name))?;
    let container = match sub {
        "portforward" => None,
        _ => Some(pick_container(&pod, &name, q.get("container"))?),
    };
    let node_name = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("pod {name} does not have a host assigned")))?
        .to_string();
    let nodes = rkube_api::registry::find("", "v1", "nodes")
        .ok_or_else(|| ApiError::internal("no nodes resource"))?;
    let node = get_json(state, &meta::key(nodes, "", &node_name))
        .await?
        .ok_or_else(|| ApiError::bad_request(format!("node \"{node_name}\" not found")))?;
    if is_simulated(&node) {
        return Err(ApiError::ServiceUnavailable {
            message: format!(
                "{sub} is not available: node \"{node_name}\" is simulated and runs no containers"
            ),
        });
    }
    let (ip, port) = kubelet_endpoint(&node)
        .ok_or_else(|| ApiError::bad_request(format!("node \"{node_name}\" has no address")))?;
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip
    };
    let path = agent_path(sub, &ns, &name, container.as_deref(), parts.uri.query());
    let url = format!("https://{host}:{port}{path}");
    // Only HTTP/1.1 requests that ask to upgrade can be served: check before
    // the agent starts anything.
    let client_upgrade = parts
        .extensions
        .remove::<OnUpgrade>()
        .filter(|_| asks_upgrade(&parts.headers))
        .ok_or_else(|| ApiError::bad_request("Upgrade request required"))?;

    let client = reqwest::Client::builder()
        // Kubelet serving certificates are self-signed; upstream does not
        // verify them unless told to.
        .danger_accept_invalid_certs(true)
        .http1_only()
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(ApiError::internal)?;
    let mut headers = HeaderMap::new();
    copy_headers(&parts.headers, &mut headers);
    let token = HeaderValue::from_str(&format!("Bearer {}", state.auth.node_token()))
        .map_err(ApiError::internal)?;
    headers.insert(header::AUTHORIZATION, token);
    let send = client
        .request(parts.method.clone(), &url)
        .headers(headers)
        .send();
    let resp = tokio::time::timeout(RESPONSE_TIMEOUT, send)
        .await
        .map_err(|_| ApiError::Internal {
            message: format!("error dialing backend: {url}: no answer in time"),
        })?
        .map_err(|e| ApiError::Internal {
            message: format!("error dialing backend: {e}"),
        })?;
    let status = resp.status();
    if status != StatusCode::SWITCHING_PROTOCOLS {
        return Ok(refusal(resp).await);
    }
    let mut answer = Response::new(Body::empty());
    *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    copy_headers(resp.headers(), answer.headers_mut());
    tokio::spawn(async move {
        let (client, agent) = tokio::join!(client_upgrade, resp.upgrade());
        match (client, agent) {
            (Ok(client), Ok(mut agent)) => {
                let mut client = TokioIo::new(client);
                match tokio::io::copy_bidirectional(&mut client, &mut agent).await {
                    Ok((up, down)) => tracing::debug!(up, down, "stream finished"),
                    Err(e) => tracing::debug!(error = %e, "stream ended with error"),
                }
            }
            (Err(e), _) => tracing::debug!(error = %e, "client upgrade failed"),
            (_, Err(e)) => tracing::debug!(error = %e, "node agent upgrade failed"),
        }
    });
    Ok(answer)
}

/// The agent's refusal, passed back as it came.
async fn refusal(resp: reqwest::Response) -> Response {
    let status = resp.status();
    let ct = resp.headers().get(header::CONTENT_TYPE).cloned();
    let mut body = Vec::new();
    let mut resp = resp;
    while let Ok(Some(chunk)) = resp.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_ERROR_BODY {
            body.truncate(MAX_ERROR_BODY);
            break;
        }
    }
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    if let Some(ct) = ct {
        r.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_path_names_the_container_and_keeps_the_command() {
        assert_eq!(
            agent_path(
                "exec",
                "default",
                "p",
                Some("c"),
                Some("command=sh&command=-c&command=exit+3&container=c&stdin=true&stdout=true")
            ),
            "/exec/default/p/c?command=sh&command=-c&command=exit+3&stdin=true&stdout=true"
        );
        assert_eq!(
            agent_path("attach", "ns", "p", Some("c"), Some("container=c&stdout=1")),
            "/attach/ns/p/c?stdout=1"
        );
        assert_eq!(
            agent_path("portforward", "ns", "p", None, None),
            "/portForward/ns/p"
        );
    }

    #[test]
    fn only_upgrade_requests_are_served() {
        let mut h = HeaderMap::new();
        assert!(!asks_upgrade(&h));
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(!asks_upgrade(&h));
        h.insert(header::UPGRADE, HeaderValue::from_static("SPDY/3.1"));
        assert!(asks_upgrade(&h));
    }

    #[test]
    fn user_credentials_are_not_passed_on() {
        assert!(!passed(&header::AUTHORIZATION));
        assert!(!passed(&header::HeaderName::from_static(
            "impersonate-user"
        )));
        assert!(passed(&header::UPGRADE));
        assert!(passed(&header::HeaderName::from_static(
            "x-stream-protocol-version"
        )));
        assert!(passed(&header::HeaderName::from_static(
            "sec-websocket-key"
        )));
    }
}
