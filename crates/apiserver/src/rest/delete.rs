//! DELETE: graceful deletion, finalizers, preconditions, and deletecollection.

use axum::response::Response;
use http::{HeaderMap, StatusCode};
use rkube_api::{ResourceInfo, registry};
use rkube_store::{Store, StoreError};
use serde_json::{Value, json};

use super::admit;
use super::body;
use crate::error::ApiError;
use crate::meta;
use crate::request::{Query, ResourceRequest};
use crate::state::AppState;

/// How the client asked to delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub grace_period: Option<i64>,
    pub propagation: Option<String>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    /// Reads options from the query and an optional `DeleteOptions` body.
    pub fn parse(q: &Query, headers: &HeaderMap, raw: &[u8]) -> Result<Self, ApiError> {
        let mut o = DeleteOptions {
            grace_period: q.int("gracePeriodSeconds")?,
            propagation: q.get("propagationPolicy").map(str::to_string),
            dry_run: q.get("dryRun") == Some("All"),
            ..Default::default()
        };
        if q.flag("orphanDependents") {
            o.propagation = Some("Orphan".into());
        }
        if !raw.iter().all(u8::is_ascii_whitespace) {
            let b = body::parse_body(headers, raw)?;
            if let Some(g) = b.get("gracePeriodSeconds").and_then(Value::as_i64) {
                o.grace_period = Some(g);
            }
            if let Some(p) = b.get("propagationPolicy").and_then(Value::as_str) {
                o.propagation = Some(p.to_string());
            }
            if b.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
                o.propagation = Some("Orphan".into());
            }
            if let Some(u) = b.pointer("/preconditions/uid").and_then(Value::as_str) {
                o.uid = Some(u.to_string());
            }
            if let Some(rv) = b
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
            {
                o.resource_version = Some(rv.to_string());
            }
            if b.get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v == "All"))
            {
                o.dry_run = true;
            }
        }
        if let Some(p) = &o.propagation
            && !matches!(p.as_str(), "Orphan" | "Background" | "Foreground")
        {
            return Err(ApiError::Invalid {
                message: format!(
                    "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{p}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
                ),
                details: Default::default(),
                causes: Vec::new(),
            });
        }
        Ok(o)
    }
}

/// Grace period a deletion of `obj` gets.
fn grace_for(info: &ResourceInfo, obj: &Value, requested: Option<i64>) -> i64 {
    if !(info.group.is_empty() && info.kind == "Pod") {
        return 0;
    }
    let unbound = obj
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    let finished = matches!(
        obj.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    if unbound || finished {
        return 0;
    }
    let g = requested
        .or_else(|| {
            obj.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
        })
        .unwrap_or(30);
    g.max(0)
}

/// Deletes one object (or marks it for deletion); returns it as last seen.
pub async fn delete_object(
    state: &AppState,
    info: &'static ResourceInfo,
    namespace: &str,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Value, ApiError> {
    let storage = registry::storage_of(info);
    let key = meta::key(storage, namespace, name);
    for _ in 0..16 {
        let Some(kv) = state.store.get(&key).await? else {
            return Err(ApiError::not_found(info, name));
        };
        let mut obj: Value = serde_json::from_slice(&kv.value).map_err(ApiError::internal)?;
        if let Some(uid) = &opts.uid {
            let actual = meta::meta_str(&obj, "uid").unwrap_or("");
            if uid != actual {
                return Err(ApiError::conflict_because(
                    info,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                    ),
                ));
            }
        }
        if let Some(rv) = &opts.resource_version
            && *rv != kv.mod_revision.to_string()
        {
            return Err(ApiError::conflict_because(
                info,
                name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    kv.mod_revision
                ),
            ));
        }
        let grace = grace_for(storage, &obj, opts.grace_period);
        let mut finalizers = meta::finalizers(&obj);
        let was_terminating = meta::is_terminating(&obj);
        if !was_terminating {
            match opts.propagation.as_deref() {
                Some("Foreground") if !finalizers.iter().any(|f| f == "foregroundDeletion") => {
                    finalizers.push("foregroundDeletion".into())
                }
                Some("Orphan") if !finalizers.iter().any(|f| f == "orphan") => {
                    finalizers.push("orphan".into())
                }
                _ => {}
            }
        }
        let is_namespace = storage.group.is_empty() && storage.kind == "Namespace";
        let spec_finalizers = is_namespace
            && obj
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());

        let graceful = grace > 0 || !finalizers.is_empty() || spec_finalizers;
        if graceful {
            if was_terminating {
                let current = obj
                    .pointer("/metadata/deletionGracePeriodSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                if grace == 0 && finalizers.is_empty() && !spec_finalizers {
                    return remove(
                        state,
                        info,
                        storage,
                        &key,
                        kv.mod_revision,
                        obj,
                        opts.dry_run,
                    )
                    .await;
                }
                if grace >= current {
                    meta::set_resource_version(&mut obj, kv.mod_revision);
                    return admit::to_served(info, obj);
                }
            }
            {
                let m = meta::meta_mut(&mut obj);
                m.insert(
                    "deletionTimestamp".into(),
                    json!(meta::rfc3339_after(grace)),
                );
                m.insert("deletionGracePeriodSeconds".into(), json!(grace));
                if finalizers.is_empty() {
                    m.remove("finalizers");
                } else {
                    m.insert("finalizers".into(), json!(finalizers));
                }
            }
            if is_namespace && let Some(map) = obj.as_object_mut() {
                map.insert("status".into(), json!({"phase": "Terminating"}));
            }
            if opts.dry_run {
                return admit::to_served(info, obj);
            }
            let bytes = serde_json::to_vec(&obj).map_err(ApiError::internal)?;
            match state.store.update(&key, bytes, kv.mod_revision).await {
                Ok(rev) => {
                    meta::set_resource_version(&mut obj, rev);
                    return admit::to_served(info, obj);
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound { .. }) => return Err(ApiError::not_found(info, name)),
                Err(e) => return Err(e.into()),
            }
        }
        match remove(
            state,
            info,
            storage,
            &key,
            kv.mod_revision,
            obj,
            opts.dry_run,
        )
        .await
        {
            Err(ApiError::Conflict { .. }) => continue,
            other => return other,
        }
    }
    Err(ApiError::conflict(info, name))
}

async fn remove(
    state: &AppState,
    info: &'static ResourceInfo,
    storage: &'static ResourceInfo,
    key: &str,
    rev: i64,
    mut obj: Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    if dry_run {
        meta::set_resource_version(&mut obj, rev);
        return admit::to_served(info, obj);
    }
    match state.store.delete(key, Some(rev)).await {
        Ok((del_rev, _)) => {
            super::update::release_if_service(state, storage, &obj);
            meta::set_resource_version(&mut obj, del_rev);
            admit::to_served(info, obj)
        }
        Err(StoreError::Conflict { .. }) => Err(ApiError::conflict(info, meta::name(&obj))),
        Err(StoreError::NotFound { .. }) => Err(ApiError::not_found(info, meta::name(&obj))),
        Err(e) => Err(e.into()),
    }
}

/// Handles DELETE of one object.
pub async fn delete(
    state: &AppState,
    req: &ResourceRequest,
    q: &Query,
    headers: &HeaderMap,
    raw: &[u8],
) -> Result<Response, ApiError> {
    let opts = DeleteOptions::parse(q, headers, raw)?;
    let name = req.name.clone().unwrap_or_default();
    let ns = req.namespace.clone().unwrap_or_default();
    let obj = delete_object(state, req.info, &ns, &name, &opts).await?;
    Ok(body::value_response(StatusCode::OK, &obj))
}

/// Handles DELETE of a collection (with the list's selectors).
pub async fn delete_collection(
    state: &AppState,
    req: &ResourceRequest,
    q: &Query,
    headers: &HeaderMap,
    raw: &[u8],
) -> Result<Response, ApiError> {
    let opts = DeleteOptions::parse(q, headers, raw)?;
    let filter = super::read::Filter::from_query(req.info, q)?;
    let cache = state
        .caches
        .for_resource(registry::storage_of(req.info))
        .ok_or_else(|| ApiError::internal("no cache for resource"))?;
    let prefix = super::read::list_prefix(req);
    let snapshot = cache.list(&prefix);
    let mut deleted = Vec::new();
    for e in snapshot.items.iter().filter(|e| filter.matches(e)) {
        match delete_object(state, req.info, &e.namespace, &e.name, &opts).await {
            Ok(obj) => deleted.push(obj),
            Err(ApiError::NotFound { .. }) => {}
            Err(err) => return Err(err),
        }
    }
    let list = json!({
        "kind": req.info.list_kind(),
        "apiVersion": req.info.api_version(),
        "metadata": {},
        "items": deleted,
    });
    Ok(body::value_response(StatusCode::OK, &list))
}
