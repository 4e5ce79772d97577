//! POST: creating objects.

use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use rkube_api::registry;
use rkube_store::{Store, StoreError};
use serde_json::{Value, json};

use super::admit;
use super::body;
use crate::error::ApiError;
use crate::meta;
use crate::request::{Query, ResourceRequest, WriteOptions};
use crate::state::AppState;

/// Tries a generated name this many times before giving up, as upstream does.
const GENERATE_NAME_TRIES: usize = 8;

/// Sets the object's namespace from the request, refusing a mismatch.
pub fn settle_namespace(req: &ResourceRequest, obj: &mut Value) -> Result<(), ApiError> {
    let body_ns = meta::namespace(obj).to_string();
    if req.info.namespaced {
        let Some(ns) = req.namespace.as_deref() else {
            return Err(ApiError::bad_request(
                "the server could not find the requested resource: a namespace is required",
            ));
        };
        if !body_ns.is_empty() && body_ns != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        meta::meta_mut(obj).insert("namespace".into(), json!(ns));
    } else {
        meta::meta_mut(obj).remove("namespace");
    }
    Ok(())
}

/// Handles a create of `req.info` from a request body.
pub async fn create(
    state: &AppState,
    req: &ResourceRequest,
    q: &Query,
    headers: &HeaderMap,
    raw: &[u8],
) -> Result<Response, ApiError> {
    let opts = WriteOptions::from_query(q)?;
    let info = req.info;
    let mut obj = body::parse_body(headers, raw)?;
    body::check_type_meta(info, &mut obj, info.kind, &info.api_version())?;
    settle_namespace(req, &mut obj)?;
    let (obj, warnings) = admit::decode(info, obj, &opts)?;
    let created = create_stored(state, info, obj, opts.dry_run).await?;
    let response = match created.json {
        // Served as stored: answer with the bytes just written instead of encoding again.
        Some(json) if admit::served_as_stored(info) => {
            body::json_response(StatusCode::CREATED, json)
        }
        _ => body::value_response(StatusCode::CREATED, &admit::to_served(info, created.value)?),
    };
    Ok(body::with_warnings(response, &warnings))
}

/// An object just created.
struct Created {
    /// The object with its resourceVersion.
    value: Value,
    /// Its JSON as stored plus the resourceVersion (None for a dry run).
    json: Option<Bytes>,
}

/// Creates an already decoded object (storage version); returns it with its resourceVersion.
pub async fn create_object(
    state: &AppState,
    info: &'static rkube_api::ResourceInfo,
    obj: Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    Ok(create_stored(state, info, obj, dry_run).await?.value)
}

async fn create_stored(
    state: &AppState,
    info: &'static rkube_api::ResourceInfo,
    mut obj: Value,
    dry_run: bool,
) -> Result<Created, ApiError> {
    let storage = registry::storage_of(info);
    let generate = meta::meta_str(&obj, "name")
        .is_none_or(str::is_empty)
        .then(|| {
            meta::meta_str(&obj, "generateName")
                .unwrap_or("")
                .to_string()
        })
        .filter(|g| !g.is_empty());
    if let Some(prefix) = &generate {
        meta::meta_mut(&mut obj).insert("name".into(), json!(meta::generate_name(prefix)));
    }
    let namespace = meta::namespace(&obj).to_string();
    admit::check_namespace(state, info, &namespace, meta::name(&obj)).await?;
    // A version-4 UID from the thread's CSPRNG (seeded from the OS), not a getrandom call each.
    let uid = uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string();
    admit::prepare_for_create(storage, &mut obj, &uid);
    admit::validate_create(info, &obj)?;

    let held = if storage.kind == "Service" && storage.group.is_empty() {
        Some(
            state
                .services
                .allocate(&mut obj, None)
                .map_err(|errs| admit::invalid(info, meta::name(&obj), errs))?,
        )
    } else {
        None
    };
    if dry_run {
        if let Some(h) = &held {
            state.services.release(h);
        }
        return Ok(Created {
            value: obj,
            json: None,
        });
    }

    let mut tries = 0;
    loop {
        let key = meta::key(storage, &namespace, meta::name(&obj));
        let bytes = serde_json::to_vec(&obj).map_err(ApiError::internal)?;
        match state.store.create(&key, bytes.clone()).await {
            Ok(rev) => {
                let json = state.caches.note_written(storage, &key, &obj, rev, &bytes);
                meta::set_resource_version(&mut obj, rev);
                return Ok(Created { value: obj, json });
            }
            Err(StoreError::AlreadyExists { .. })
                if generate.is_some() && tries < GENERATE_NAME_TRIES =>
            {
                tries += 1;
                let prefix = generate.as_deref().unwrap_or("");
                meta::meta_mut(&mut obj).insert("name".into(), json!(meta::generate_name(prefix)));
            }
            Err(e) => {
                if let Some(h) = &held {
                    state.services.release(h);
                }
                return Err(match e {
                    StoreError::AlreadyExists { .. } => {
                        ApiError::already_exists(info, meta::name(&obj))
                    }
                    other => other.into(),
                });
            }
        }
    }
}
