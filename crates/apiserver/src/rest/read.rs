//! GET and LIST: objects from the store or the watch cache, as JSON, Table or metadata.

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use base64::Engine;
use http::{HeaderMap, StatusCode};
use rkube_api::{ResourceInfo, registry};
use rkube_apimachinery::selector::{FieldSelector, LabelSelector};
use rkube_store::{ListOptions, Store, StoreError};
use serde_json::{Value, json};

use super::admit;
use super::body::{self, Output};
use crate::cache::Entry;
use crate::error::ApiError;
use crate::meta;
use crate::request::{Query, ResourceRequest};
use crate::state::AppState;

/// How long a list waits for the cache to catch up before giving up.
const FRESHNESS_WAIT: Duration = Duration::from_secs(3);

/// Label and field selectors of a list or watch.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
}

impl Filter {
    pub fn from_query(info: &'static ResourceInfo, q: &Query) -> Result<Self, ApiError> {
        let labels = match q.get("labelSelector") {
            Some(s) if !s.trim().is_empty() => {
                Some(LabelSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?)
            }
            _ => None,
        };
        let fields = match q.get("fieldSelector") {
            Some(s) if !s.trim().is_empty() => {
                let f =
                    FieldSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?;
                rkube_apimachinery::fields::check_supported(registry::storage_of(info), &f)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                Some(f)
            }
            _ => None,
        };
        Ok(Filter { labels, fields })
    }

    /// Whether an entry passes both selectors.
    pub fn matches(&self, e: &Entry) -> bool {
        self.labels.as_ref().is_none_or(|l| l.matches(&e.labels))
            && self
                .fields
                .as_ref()
                .is_none_or(|f| f.matches(|name| e.field(name)))
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_none() && self.fields.is_none()
    }
}

/// The store/cache key prefix a list covers.
pub fn list_prefix(req: &ResourceRequest) -> String {
    let prefix = registry::storage_of(req.info).key_prefix();
    match (&req.namespace, req.info.namespaced) {
        (Some(ns), true) => format!("{prefix}{ns}/"),
        _ => prefix,
    }
}

/// Handles GET of one object.
pub async fn get(
    state: &AppState,
    req: &ResourceRequest,
    q: &Query,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let output = body::negotiate(headers)?;
    let info = req.info;
    let name = req.name.clone().unwrap_or_default();
    let ns = req.namespace.clone().unwrap_or_default();
    let storage = registry::storage_of(info);
    let key = meta::key(storage, &ns, &name);
    let obj = match q.get("resourceVersion") {
        Some("0") => state
            .caches
            .for_resource(storage)
            .and_then(|c| c.get(&key))
            .map(|e| e.value()),
        _ => match state.store.get(&key).await? {
            Some(kv) => {
                let mut v: Value = serde_json::from_slice(&kv.value).map_err(ApiError::internal)?;
                meta::set_resource_version(&mut v, kv.mod_revision);
                Some(v)
            }
            None => None,
        },
    };
    let Some(obj) = obj else {
        return Err(ApiError::not_found(info, &name));
    };
    let obj = admit::to_served(info, obj)?;
    match output {
        Output::Json => Ok(body::value_response(StatusCode::OK, &obj)),
        Output::PartialMetadata => Ok(body::value_response(
            StatusCode::OK,
            &body::partial_metadata(&obj),
        )),
        Output::Table => {
            let rv = meta::meta_str(&obj, "resourceVersion")
                .unwrap_or("")
                .to_string();
            Ok(body::value_response(
                StatusCode::OK,
                &table(info, &[obj], &rv, "", q),
            ))
        }
    }
}

/// A continue token: the revision the list is read at and the last key returned.
fn encode_continue(rev: i64, key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"v": "meta.k8s.io/v1", "rv": rev, "start": key}).to_string())
}

fn decode_continue(token: &str) -> Result<(i64, String), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(token))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rev = v.get("rv").and_then(Value::as_i64).ok_or_else(bad)?;
    let start = v.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    Ok((rev, start.to_string()))
}

/// Handles LIST.
pub async fn list(
    state: &AppState,
    req: &ResourceRequest,
    q: &Query,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let output = body::negotiate(headers)?;
    let info = req.info;
    let storage = registry::storage_of(info);
    let filter = Filter::from_query(info, q)?;
    let limit = q.int("limit")?.unwrap_or(0).max(0) as usize;
    let cont = q.get("continue").filter(|s| !s.is_empty());
    let rv = q.get("resourceVersion").filter(|s| !s.is_empty());
    let rv_match = q.get("resourceVersionMatch").filter(|s| !s.is_empty());
    let prefix = list_prefix(req);

    let (items, revision, next) = if cont.is_some() || limit > 0 || rv_match == Some("Exact") {
        let (at, start) = match cont {
            Some(c) => {
                if rv.is_some_and(|r| r != "0") {
                    return Err(ApiError::bad_request(
                        "specifying resource version is not allowed when using continue",
                    ));
                }
                let (at, start) = decode_continue(c)?;
                (at, Some(start))
            }
            None => {
                let at = match (rv, rv_match) {
                    (Some(r), Some("Exact")) => parse_rv(r)?,
                    _ => 0,
                };
                (at, None)
            }
        };
        paged(state, storage, &prefix, at, start, limit, &filter).await?
    } else {
        // Served from the watch cache, fresh enough for the requested semantics.
        let want = match rv {
            None => Some(state.store.current_revision().await?),
            Some("0") => None,
            Some(r) => Some(parse_rv(r)?),
        };
        if let Some(want) = want
            && !state.caches.wait_for(want, FRESHNESS_WAIT).await
        {
            return Err(ApiError::Timeout {
                message: format!(
                    "Too large resource version: {want}, current: {}",
                    state.caches.revision()
                ),
            });
        }
        let cache = state
            .caches
            .for_resource(storage)
            .ok_or_else(|| ApiError::internal("no cache for resource"))?;
        let snap = cache.list(&prefix);
        let items: Vec<Arc<Entry>> = snap
            .items
            .into_iter()
            .filter(|e| filter.matches(e))
            .collect();
        (items, snap.revision, None)
    };
    render_list(info, storage, items, revision, next.as_deref(), output, q)
}

fn parse_rv(r: &str) -> Result<i64, ApiError> {
    r.parse()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {r:?}")))
}

/// Reads a page of up to `limit` matching items from the store at revision `at` (0 = now).
async fn paged(
    state: &AppState,
    storage: &'static ResourceInfo,
    prefix: &str,
    at: i64,
    mut start: Option<String>,
    limit: usize,
    filter: &Filter,
) -> Result<(Vec<Arc<Entry>>, i64, Option<String>), ApiError> {
    let mut items = Vec::new();
    let mut revision = at;
    loop {
        let want = if limit == 0 {
            0
        } else {
            (limit - items.len()).max(if filter.is_empty() { 1 } else { 100 })
        };
        let res = state
            .store
            .list(prefix, ListOptions { revision, start_after: start.clone(), limit: want })
            .await
            .map_err(|e| match e {
                StoreError::Compacted { .. } => ApiError::Gone {
                    message: "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.".into(),
                },
                other => other.into(),
            })?;
        revision = res.revision;
        let mut last_key = None;
        for kv in &res.items {
            last_key = Some(kv.key.clone());
            let e = Entry::from_stored(storage, &kv.key, &kv.value, kv.mod_revision)
                .map_err(ApiError::internal)?;
            if filter.matches(&e) {
                items.push(Arc::new(e));
                if limit > 0 && items.len() == limit {
                    let more = res.more
                        || kv.key != res.items.last().map(|k| k.key.clone()).unwrap_or_default();
                    let token = more.then(|| encode_continue(revision, &kv.key));
                    return Ok((items, revision, token));
                }
            }
        }
        if !res.more || last_key.is_none() {
            return Ok((items, revision, None));
        }
        start = last_key;
    }
}

/// Renders a list in the negotiated representation.
fn render_list(
    info: &'static ResourceInfo,
    storage: &'static ResourceInfo,
    items: Vec<Arc<Entry>>,
    revision: i64,
    next: Option<&str>,
    output: Output,
    q: &Query,
) -> Result<Response, ApiError> {
    let rv = revision.to_string();
    match output {
        Output::Json if std::ptr::eq(info, storage) => {
            let mut meta = json!({"resourceVersion": rv});
            if let Some(n) = next {
                meta["continue"] = json!(n);
            }
            let head = format!(
                "{{\"kind\":\"{}\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
                info.list_kind(),
                info.api_version(),
                meta
            );
            let mut out = Vec::with_capacity(
                head.len() + items.iter().map(|e| e.json.len() + 1).sum::<usize>() + 2,
            );
            out.extend_from_slice(head.as_bytes());
            for (i, e) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&e.json);
            }
            out.extend_from_slice(b"]}");
            Ok(body::json_response(StatusCode::OK, out))
        }
        Output::Json => {
            let objs: Vec<Value> = items
                .iter()
                .map(|e| admit::to_served(info, e.value()))
                .collect::<Result<_, _>>()?;
            let mut meta = json!({"resourceVersion": rv});
            if let Some(n) = next {
                meta["continue"] = json!(n);
            }
            let list = json!({"kind": info.list_kind(), "apiVersion": info.api_version(), "metadata": meta, "items": objs});
            Ok(body::value_response(StatusCode::OK, &list))
        }
        Output::PartialMetadata => {
            let objs: Vec<Value> = items
                .iter()
                .map(|e| body::partial_metadata(&e.value()))
                .collect();
            let mut meta = json!({"resourceVersion": rv});
            if let Some(n) = next {
                meta["continue"] = json!(n);
            }
            let list = json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "items": objs});
            Ok(body::value_response(StatusCode::OK, &list))
        }
        Output::Table => {
            let objs: Vec<Value> = items
                .iter()
                .map(|e| admit::to_served(info, e.value()))
                .collect::<Result<_, _>>()?;
            Ok(body::value_response(
                StatusCode::OK,
                &table(info, &objs, &rv, next.unwrap_or(""), q),
            ))
        }
    }
}

/// A `meta.k8s.io/v1` Table of objects.
pub fn table(info: &ResourceInfo, objs: &[Value], rv: &str, next: &str, q: &Query) -> Value {
    let now = jiff::Timestamp::now();
    let include = q.get("includeObject").unwrap_or("Metadata");
    let rows: Vec<Value> = objs
        .iter()
        .map(|o| table_row(info, o, now, include))
        .collect();
    let mut meta = json!({"resourceVersion": rv});
    if !next.is_empty() {
        meta["continue"] = json!(next);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": column_definitions(info),
        "rows": rows,
    })
}

/// The column definitions of a resource's table.
pub fn column_definitions(info: &ResourceInfo) -> Vec<Value> {
    rkube_printers::columns(info)
        .iter()
        .map(|c| json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority}))
        .collect()
}

/// One row of a table.
pub fn table_row(info: &ResourceInfo, obj: &Value, now: jiff::Timestamp, include: &str) -> Value {
    let cells = rkube_printers::cells(info, obj, now);
    let object = match include {
        "None" => Value::Null,
        "Object" => obj.clone(),
        _ => body::partial_metadata(obj),
    };
    json!({"cells": cells, "object": object})
}
