//! The REST verbs on resources, dispatched by method and path.

pub mod admit;
pub mod body;
pub mod create;
pub mod delete;
pub mod pod_log;
pub mod pod_stream;
pub mod read;
pub mod subresources;
pub mod token_request;
pub mod update;
pub mod watch;

use axum::response::Response;
use http::{HeaderMap, Method};

use crate::error::ApiError;
use crate::request::{Query, ResourceRequest};
use crate::state::State;

/// The verb a request performs, for the verb check against the registry.
fn verb(method: &Method, req: &ResourceRequest, q: &Query) -> &'static str {
    match (method.as_str(), req.name.is_some()) {
        ("GET", _) if watch::is_watch(q) => "watch",
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "",
    }
}

/// Serves one resource request.
pub async fn handle(
    state: State,
    req: ResourceRequest,
    method: Method,
    q: Query,
    headers: HeaderMap,
    raw: bytes::Bytes,
) -> Result<Response, ApiError> {
    tracing::trace!(%method, resource = req.info.plural, rv = ?q.get("resourceVersion"), subresource = ?req.subresource, name = ?req.name, "request");
    if req.info.namespaced
        && let Some(ns) = &req.namespace
        && ns.is_empty()
    {
        return Err(ApiError::bad_request("namespace must not be empty"));
    }
    if let Some(sub) = req.subresource.clone() {
        return handle_subresource(state, req, &sub, method, q, headers, raw).await;
    }
    let v = verb(&method, &req, &q);
    if v.is_empty() || !req.info.has_verb(v) {
        return Err(ApiError::MethodNotAllowed);
    }
    // Writes to a collection path need a namespace for namespaced kinds.
    if req.info.namespaced && req.namespace.is_none() && !matches!(v, "list" | "watch") {
        return Err(ApiError::no_such_resource());
    }
    match v {
        "watch" => watch::watch(state.clone(), &req, &q, &headers).await,
        "get" => read::get(&state, &req, &q, &headers).await,
        "list" => read::list(&state, &req, &q, &headers).await,
        "create" if req.info.plural == "bindings" => {
            subresources::bind(
                &state,
                req.namespace.as_deref().unwrap_or(""),
                None,
                &headers,
                &raw,
            )
            .await
        }
        "create" => {
            if req.name.is_some() {
                return Err(ApiError::MethodNotAllowed);
            }
            create::create(&state, &req, &q, &headers, &raw).await
        }
        "update" => update::replace(&state, &req, &q, &headers, &raw).await,
        "patch" => update::patch(&state, &req, &q, &headers, &raw).await,
        "delete" => delete::delete(&state, &req, &q, &headers, &raw).await,
        "deletecollection" => delete::delete_collection(&state, &req, &q, &headers, &raw).await,
        _ => Err(ApiError::MethodNotAllowed),
    }
}

async fn handle_subresource(
    state: State,
    req: ResourceRequest,
    sub: &str,
    method: Method,
    q: Query,
    headers: HeaderMap,
    raw: bytes::Bytes,
) -> Result<Response, ApiError> {
    if req.name.is_none() {
        return Err(ApiError::no_such_resource());
    }
    let top = sub.split('/').next().unwrap_or("");
    match (top, method.as_str()) {
        ("status", "GET") => read::get(&state, &req, &q, &headers).await,
        ("status", "PUT") => update::replace(&state, &req, &q, &headers, &raw).await,
        ("status", "PATCH") => update::patch(&state, &req, &q, &headers, &raw).await,
        ("finalize", "PUT") => update::replace(&state, &req, &q, &headers, &raw).await,
        ("scale", "GET" | "PUT" | "PATCH") => {
            subresources::scale(&state, &req, &method, &q, &headers, &raw).await
        }
        ("binding", "POST") => {
            subresources::bind(
                &state,
                req.namespace.as_deref().unwrap_or(""),
                req.name.as_deref(),
                &headers,
                &raw,
            )
            .await
        }
        ("eviction", "POST") => subresources::evict(&state, &req, &q, &headers, &raw).await,
        ("token", "POST") => token_request::create_token(&state, &req, &headers, &raw).await,
        ("log", "GET") if req.info.kind == "Pod" => pod_log::pod_log(&state, &req, &q).await,
        ("log" | "exec" | "attach" | "portforward" | "proxy", _) => {
            subresources::node_stream(&state, &req).await
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}
