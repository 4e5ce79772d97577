//! The `/stats/summary` route of the agent's HTTPS server.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::summary::Collector;
use crate::runtime::Runtime;

/// Where the machine's cgroups are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

struct State<R> {
    runtime: Arc<R>,
    node: String,
    token: String,
    collector: Collector,
}

/// The bearer token matches (constant time in its length).
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// `GET /stats/summary` for node `node`, reading cgroups under `cgroup_root`;
/// requests must carry `token` as a bearer token.
pub fn routes_at<S, R>(runtime: Arc<R>, node: &str, token: &str, cgroup_root: &Path) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    R: Runtime,
{
    let state = Arc::new(State {
        runtime,
        node: node.to_string(),
        token: token.to_string(),
        collector: Collector::new(cgroup_root),
    });
    Router::new().route(
        "/stats/summary",
        get(move |headers: HeaderMap| {
            let state = state.clone();
            async move { summary(&state, &headers).await }
        }),
    )
}

/// [`routes_at`] on the machine's cgroups.
pub fn routes<S, R>(runtime: Arc<R>, node: &str, token: &str) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    R: Runtime,
{
    routes_at(runtime, node, token, Path::new(CGROUP_ROOT))
}

async fn summary<R: Runtime>(state: &State<R>, headers: &HeaderMap) -> Response {
    if !authorized(headers, &state.token) {
        return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    }
    match state.collector.summary(&*state.runtime, &state.node).await {
        Ok(s) => match serde_json::to_vec(&s) {
            Ok(body) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        },
        Err(e) => {
            tracing::warn!(error = %e, "reading stats failed");
            (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;
    use crate::runtime::fake::FakeRuntime;

    #[tokio::test]
    async fn answers_the_summary_to_the_token_only() {
        let root = tempfile::tempdir().unwrap();
        let app: Router = routes_at(Arc::new(FakeRuntime::new()), "n1", "secret", root.path());
        let get = |auth: Option<&str>| {
            let mut r = Request::get("/stats/summary");
            if let Some(a) = auth {
                r = r.header(header::AUTHORIZATION, a);
            }
            r.body(Body::empty()).unwrap()
        };
        let resp = app.clone().oneshot(get(None)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let resp = app.clone().oneshot(get(Some("Bearer nope"))).await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        let resp = app.oneshot(get(Some("Bearer secret"))).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["node"]["nodeName"], "n1");
        assert_eq!(v["pods"], serde_json::json!([]));
    }
}
