//! PUT and PATCH: optimistic-concurrency updates of objects and their status.

use axum::response::Response;
use http::{HeaderMap, StatusCode, header};
use rkube_api::{ResourceInfo, registry};
use rkube_apimachinery::patch::{PatchType, apply_patch};
use rkube_store::{Revision, Store, StoreError};
use serde_json::Value;

use super::admit;
use super::body;
use crate::error::ApiError;
use crate::meta;
use crate::request::{Query, ResourceRequest, WriteOptions};
use crate::state::AppState;

/// Kinds that a PUT may create when missing, as upstream's strategies allow.
fn allow_create_on_update(info: &ResourceInfo) -> bool {
    matches!(
        info.kind,
        "Endpoints"
            | "Event"
            | "LimitRange"
            | "ServiceAccount"
            | "Role"
            | "RoleBinding"
            | "ClusterRole"
            | "ClusterRoleBinding"
    )
}

/// What a mutation closure produces.
pub struct Mutation {
    /// The new object in the served version.
    pub object: Value,
    /// Whether the client set a resourceVersion precondition (then conflicts are not retried).
    pub explicit_rv: bool,
}

/// The outcome of an update.
pub struct Updated {
    pub object: Value,
    pub warnings: Vec<String>,
    /// The bytes just stored, revision spliced in, when the object is served as stored:
    /// the answer, without encoding `object` again.
    pub json: Option<bytes::Bytes>,
}

impl Updated {
    /// The 200 answer with the updated object.
    fn response(self) -> Response {
        let resp = match self.json {
            Some(json) => body::json_response(StatusCode::OK, json),
            None => body::value_response(StatusCode::OK, &self.object),
        };
        body::with_warnings(resp, &self.warnings)
    }
}

/// How one try of an update ended.
enum Attempt {
    /// Written (or deleted by its last finalizer going, or a dry run).
    Done(Updated),
    /// Nothing to write: the mutation left the object as it was.
    Unchanged(Updated),
    /// The object changed under us (or the client's resourceVersion is not the current one).
    Conflict { explicit_rv: bool },
}

impl Attempt {
    /// What happened, for logs.
    fn describe(&self) -> &'static str {
        match self {
            Attempt::Done(_) => "done",
            Attempt::Unchanged(_) => "unchanged",
            Attempt::Conflict { .. } => "conflict",
        }
    }
}

/// Reads the current object, applies `mutate`, and writes the result, retrying on
/// conflicts the client did not ask to detect (upstream's GuaranteedUpdate).
///
/// As upstream, the first try starts from the watch cache's copy, which saves a store
/// read on every write; the store's compare-and-swap catches a stale copy, and any
/// conflict, error or no-op reached from the cached copy is tried again from the store
/// before it is answered.
pub async fn update_with<F>(
    state: &AppState,
    info: &'static ResourceInfo,
    namespace: &str,
    name: &str,
    subresource: Option<&str>,
    opts: &WriteOptions,
    mut mutate: F,
) -> Result<Updated, ApiError>
where
    F: FnMut(&Value) -> Result<Mutation, ApiError>,
{
    let storage = registry::storage_of(info);
    let key = meta::key(storage, namespace, name);
    let mut from_store = opts.dry_run;
    for _attempt in 0..16 {
        let Some(Current {
            object: current,
            rev,
            from_cache,
        }) = read_current(state, storage, &key, !from_store).await?
        else {
            return Err(ApiError::not_found(info, name));
        };
        let outcome = try_update(
            state,
            info,
            &key,
            name,
            subresource,
            opts,
            &mut mutate,
            current,
            rev,
        )
        .await;
        match outcome {
            Ok(Attempt::Done(updated)) => return Ok(updated),
            Ok(Attempt::Unchanged(updated)) if !from_cache => return Ok(updated),
            Ok(Attempt::Conflict { explicit_rv: true }) if !from_cache => {
                return Err(ApiError::conflict(info, name));
            }
            Err(e) if !from_cache => return Err(e),
            // From the cached copy: the answer may be the cache's lag; ask the store.
            other => {
                tracing::trace!(%key, outcome = other.as_ref().map(Attempt::describe).unwrap_or("error"), "update from the watch cache retried from the store");
                from_store = true;
            }
        }
    }
    Err(ApiError::conflict(info, name))
}

/// An object as the next write will start from.
pub(crate) struct Current {
    /// As stored: without its resourceVersion.
    pub object: Value,
    /// The revision it was read at.
    pub rev: Revision,
    /// Read from the watch cache (which may lag), not the store.
    pub from_cache: bool,
}

/// Reads `key` for a write: the watch cache's copy when `cached` is allowed and has it
/// (saving a store read, as upstream's GuaranteedUpdate does), else the store's.
pub(crate) async fn read_current(
    state: &AppState,
    storage: &ResourceInfo,
    key: &str,
    cached: bool,
) -> Result<Option<Current>, ApiError> {
    let entry = if cached {
        state.caches.for_resource(storage).and_then(|c| c.get(key))
    } else {
        None
    };
    if let Some(entry) = entry {
        let mut object: Value = serde_json::from_slice(&entry.json).map_err(ApiError::internal)?;
        meta::clear_resource_version(&mut object);
        return Ok(Some(Current {
            object,
            rev: entry.rv,
            from_cache: true,
        }));
    }
    let Some(kv) = state.store.get(key).await? else {
        return Ok(None);
    };
    Ok(Some(Current {
        object: serde_json::from_slice(&kv.value).map_err(ApiError::internal)?,
        rev: kv.mod_revision,
        from_cache: false,
    }))
}

/// One try of an update from `current` (the object at revision `rev`).
#[allow(clippy::too_many_arguments)]
async fn try_update<F>(
    state: &AppState,
    info: &'static ResourceInfo,
    key: &str,
    name: &str,
    subresource: Option<&str>,
    opts: &WriteOptions,
    mutate: &mut F,
    mut current: Value,
    rev: Revision,
) -> Result<Attempt, ApiError>
where
    F: FnMut(&Value) -> Result<Mutation, ApiError>,
{
    let storage = registry::storage_of(info);
    let as_stored = admit::served_as_stored(info);
    // The mutation starts from the served object with its resourceVersion: for a kind
    // served as stored that is `current` itself for the moment, else a converted copy.
    let Mutation {
        object: mut new,
        explicit_rv,
    } = if as_stored {
        meta::set_resource_version(&mut current, rev);
        let m = mutate(&current);
        meta::clear_resource_version(&mut current);
        m?
    } else {
        let mut served = admit::to_served(info, current.clone())?;
        meta::set_resource_version(&mut served, rev);
        mutate(&served)?
    };

    if let Some(given) = meta::meta_str(&new, "resourceVersion")
        && !given.is_empty()
        && given != rev.to_string()
    {
        return Ok(Attempt::Conflict { explicit_rv: true });
    }
    if meta::name(&new) != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            meta::name(&new)
        )));
    }
    let (mut next, warnings) = if subresource == Some("status") && as_stored {
        admit::decode_status(info, std::mem::take(&mut new), &current, opts)?
    } else {
        let (mut next, warnings) = admit::decode(info, std::mem::take(&mut new), opts)?;
        admit::prepare_for_update(storage, &mut next, &current, subresource);
        (next, warnings)
    };
    meta::clear_resource_version(&mut next);

    // The last finalizer of a terminating object removed by this update: the object
    // goes (as upstream, only on that transition: a status write to an object in its
    // grace period leaves it for whoever finishes the deletion).
    if meta::is_terminating(&current)
        && !meta::finalizers(&current).is_empty()
        && meta::finalizers(&next).is_empty()
    {
        if opts.dry_run {
            return Ok(Attempt::Done(Updated {
                object: admit::to_served(info, next)?,
                warnings,
                json: None,
            }));
        }
        return match state.store.delete(key, Some(rev)).await {
            Ok((deleted_at, _)) => {
                release_if_service(state, storage, &current);
                meta::set_resource_version(&mut next, deleted_at);
                Ok(Attempt::Done(Updated {
                    object: admit::to_served(info, next)?,
                    warnings,
                    json: None,
                }))
            }
            Err(StoreError::Conflict { .. }) => Ok(Attempt::Conflict { explicit_rv }),
            Err(StoreError::NotFound { .. }) => Err(ApiError::not_found(info, name)),
            Err(e) => Err(e.into()),
        };
    }

    admit::validate_update(info, &next, &current, subresource)?;
    if next == current {
        let mut served = admit::to_served(info, current)?;
        meta::set_resource_version(&mut served, rev);
        return Ok(Attempt::Unchanged(Updated {
            object: served,
            warnings,
            json: None,
        }));
    }
    let held = if storage.kind == "Service" && storage.group.is_empty() && subresource.is_none() {
        Some(
            state
                .services
                .allocate(&mut next, Some(&current))
                .map_err(|errs| admit::invalid(info, name, errs))?,
        )
    } else {
        None
    };
    if opts.dry_run {
        if let Some(h) = &held {
            state.services.release(h);
        }
        meta::set_resource_version(&mut next, rev);
        return Ok(Attempt::Done(Updated {
            object: admit::to_served(info, next)?,
            warnings,
            json: None,
        }));
    }
    let bytes = serde_json::to_vec(&next).map_err(ApiError::internal)?;
    match state.store.update(key, bytes.clone(), rev).await {
        Ok(written) => {
            let json = state
                .caches
                .note_written(storage, key, &next, written, &bytes)
                .filter(|_| as_stored);
            if held.is_some() {
                release_dropped(state, &current, &next);
            }
            meta::set_resource_version(&mut next, written);
            Ok(Attempt::Done(Updated {
                object: admit::to_served(info, next)?,
                warnings,
                json,
            }))
        }
        Err(e) => {
            if let Some(h) = &held {
                state.services.release(h);
            }
            match e {
                StoreError::Conflict { .. } => Ok(Attempt::Conflict { explicit_rv }),
                StoreError::NotFound { .. } => Err(ApiError::not_found(info, name)),
                other => Err(other.into()),
            }
        }
    }
}

/// Frees a deleted service's addresses.
pub fn release_if_service(state: &AppState, storage: &ResourceInfo, obj: &Value) {
    if storage.kind == "Service" && storage.group.is_empty() {
        state.services.release(&crate::alloc::held_by(obj));
    }
}

/// Frees what an updated service no longer holds.
fn release_dropped(state: &AppState, old: &Value, new: &Value) {
    let before = crate::alloc::held_by(old);
    let after = crate::alloc::held_by(new);
    let dropped = crate::alloc::Held {
        ips: before
            .ips
            .into_iter()
            .filter(|ip| !after.ips.contains(ip))
            .collect(),
        ports: before
            .ports
            .into_iter()
            .filter(|p| !after.ports.contains(p))
            .collect(),
    };
    state.services.release(&dropped);
}

/// Handles PUT on an object or its status.
pub async fn replace(
    state: &AppState,
    req: &ResourceRequest,
    q: &Query,
    headers: &HeaderMap,
    raw: &[u8],
) -> Result<Response, ApiError> {
    let opts = WriteOptions::from_query(q)?;
    let info = req.info;
    let name = req.name.clone().unwrap_or_default();
    let namespace = req.namespace.clone().unwrap_or_default();
    let mut obj = body::parse_body(headers, raw)?;
    body::check_type_meta(info, &mut obj, info.kind, &info.api_version())?;
    super::create::settle_namespace(req, &mut obj)?;
    if meta::name(&obj).is_empty() {
        meta::meta_mut(&mut obj).insert("name".into(), Value::String(name.clone()));
    }
    let sub = req.subresource.as_deref();
    let explicit_rv = meta::meta_str(&obj, "resourceVersion").is_some_and(|s| !s.is_empty());
    let result = update_with(state, info, &namespace, &name, sub, &opts, |current| {
        let mut next = obj.clone();
        if sub == Some("finalize") {
            // Only spec.finalizers changes through /finalize.
            let mut merged = current.clone();
            if let Some(map) = merged.as_object_mut() {
                if let Some(f) = next.pointer("/spec/finalizers") {
                    map.insert("spec".into(), serde_json::json!({"finalizers": f}));
                } else {
                    map.insert("spec".into(), serde_json::json!({}));
                }
            }
            next = merged;
            if explicit_rv && let Some(rv) = meta::meta_str(&obj, "resourceVersion") {
                meta::meta_mut(&mut next)
                    .insert("resourceVersion".into(), Value::String(rv.to_string()));
            }
        }
        Ok(Mutation {
            object: next,
            explicit_rv,
        })
    })
    .await;
    match result {
        Ok(u) => Ok(u.response()),
        Err(ApiError::NotFound { .. }) if allow_create_on_update(info) && sub.is_none() => {
            let (decoded, warnings) = admit::decode(info, obj, &opts)?;
            let created = super::create::create_object(state, info, decoded, opts.dry_run).await?;
            let served = admit::to_served(info, created)?;
            Ok(body::with_warnings(
                body::value_response(StatusCode::CREATED, &served),
                &warnings,
            ))
        }
        Err(e) => Err(e),
    }
}

/// Handles PATCH on an object or its status.
pub async fn patch(
    state: &AppState,
    req: &ResourceRequest,
    q: &Query,
    headers: &HeaderMap,
    raw: &[u8],
) -> Result<Response, ApiError> {
    let opts = WriteOptions::from_query(q)?;
    let info = req.info;
    if raw.len() > body::MAX_BODY {
        return Err(ApiError::TooLarge);
    }
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(ty) = PatchType::from_content_type(ctype) else {
        return Err(ApiError::UnsupportedMediaType {
            message: format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json; got {ctype:?}"
            ),
        });
    };
    let name = req.name.clone().unwrap_or_default();
    let namespace = req.namespace.clone().unwrap_or_default();
    let sub = req.subresource.as_deref();
    let u = update_with(state, info, &namespace, &name, sub, &opts, |current| {
        let patched =
            apply_patch(current, raw, ty, info).map_err(|e| patch_error(info, &name, e))?;
        let explicit_rv = meta::meta_str(&patched, "resourceVersion")
            != meta::meta_str(current, "resourceVersion");
        Ok(Mutation {
            object: patched,
            explicit_rv,
        })
    })
    .await?;
    Ok(u.response())
}

/// Maps a patch failure to upstream's status.
pub fn patch_error(
    info: &ResourceInfo,
    name: &str,
    e: rkube_apimachinery::patch::PatchError,
) -> ApiError {
    let msg = e.to_string();
    match e.http_code() {
        400 => ApiError::bad_request(msg),
        409 => ApiError::conflict(info, name),
        _ => ApiError::Invalid {
            message: msg,
            details: crate::error::Details::of(info, name),
            causes: Vec::new(),
        },
    }
}
