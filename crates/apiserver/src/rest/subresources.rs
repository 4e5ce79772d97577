//! Subresources: scale, binding, eviction, and the streaming routes that need a node agent.

use axum::response::Response;
use http::{HeaderMap, Method, StatusCode, header};
use rkube_api::{ResourceInfo, registry};
use rkube_apimachinery::patch::{PatchType, apply_patch};
use rkube_apimachinery::selector::LabelSelector;
use rkube_store::{Store, StoreError};
use serde_json::{Value, json};

use super::body;
use super::delete::{DeleteOptions, delete_object};
use super::update::{Current, Mutation, read_current, update_with};
use crate::error::ApiError;
use crate::meta;
use crate::request::{Query, ResourceRequest, WriteOptions};
use crate::state::AppState;

/// The label selector of a scalable object, rendered as a string.
fn selector_string(obj: &Value, info: &ResourceInfo) -> String {
    let sel = obj.pointer("/spec/selector");
    let parsed = if info.kind == "ReplicationController" {
        Some(LabelSelector::from_map(&meta::string_map(sel)))
    } else {
        sel.and_then(|s| serde_json::from_value(s.clone()).ok())
            .and_then(|s| LabelSelector::from_label_selector(&s).ok())
    };
    parsed.map(|s| s.to_string()).unwrap_or_default()
}

/// The `autoscaling/v1` Scale of an object.
fn scale_of(obj: &Value, info: &ResourceInfo) -> Value {
    let m = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m.get("name"),
            "namespace": m.get("namespace"),
            "uid": m.get("uid"),
            "resourceVersion": m.get("resourceVersion"),
            "creationTimestamp": m.get("creationTimestamp"),
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector_string(obj, info),
        },
    })
}

/// GET, PUT and PATCH of `<resource>/<name>/scale`.
pub async fn scale(
    state: &AppState,
    req: &ResourceRequest,
    method: &Method,
    q: &Query,
    headers: &HeaderMap,
    raw: &[u8],
) -> Result<Response, ApiError> {
    let info = req.info;
    let name = req.name.clone().unwrap_or_default();
    let ns = req.namespace.clone().unwrap_or_default();
    if *method == Method::GET {
        let key = meta::key(registry::storage_of(info), &ns, &name);
        let kv = state
            .store
            .get(&key)
            .await?
            .ok_or_else(|| ApiError::not_found(info, &name))?;
        let mut obj: Value = serde_json::from_slice(&kv.value).map_err(ApiError::internal)?;
        meta::set_resource_version(&mut obj, kv.mod_revision);
        return Ok(body::value_response(StatusCode::OK, &scale_of(&obj, info)));
    }
    let opts = WriteOptions::from_query(q)?;
    let patch_type = if *method == Method::PATCH {
        let ctype = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Some(
            PatchType::from_content_type(ctype).ok_or_else(|| ApiError::UnsupportedMediaType {
                message: format!("the body of the request was in an unknown format: {ctype:?}"),
            })?,
        )
    } else {
        None
    };
    let put_body = if patch_type.is_none() {
        Some(body::parse_body(headers, raw)?)
    } else {
        None
    };
    let updated = update_with(state, info, &ns, &name, None, &opts, |current| {
        let cur_scale = scale_of(current, info);
        let new_scale = match (&patch_type, &put_body) {
            (Some(ty), _) => {
                let ty = if *ty == PatchType::StrategicMerge {
                    PatchType::Merge
                } else {
                    *ty
                };
                apply_patch(&cur_scale, raw, ty, info)
                    .map_err(|e| super::update::patch_error(info, &name, e))?
            }
            (None, Some(b)) => b.clone(),
            (None, None) => cur_scale.clone(),
        };
        let replicas = new_scale
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let mut next = current.clone();
        if let Some(spec) = next.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("replicas".into(), json!(replicas));
        }
        let rv = meta::meta_str(&new_scale, "resourceVersion")
            .unwrap_or("")
            .to_string();
        let explicit_rv =
            !rv.is_empty() && Some(rv.as_str()) != meta::meta_str(current, "resourceVersion");
        if explicit_rv {
            meta::meta_mut(&mut next).insert("resourceVersion".into(), json!(rv));
        }
        Ok(Mutation {
            object: next,
            explicit_rv,
        })
    })
    .await?;
    Ok(body::value_response(
        StatusCode::OK,
        &scale_of(&updated.object, info),
    ))
}

/// Binds a pod to a node: `pods/<name>/binding` or `bindings`.
pub async fn bind(
    state: &AppState,
    namespace: &str,
    pod_name: Option<&str>,
    headers: &HeaderMap,
    raw: &[u8],
) -> Result<Response, ApiError> {
    let binding = body::parse_body(headers, raw)?;
    let name = pod_name
        .map(str::to_string)
        .unwrap_or_else(|| meta::name(&binding).to_string());
    let Some(pods) = registry::find("", "v1", "pods") else {
        return Err(ApiError::internal("pods not registered"));
    };
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if node.is_empty() {
        return Err(ApiError::Invalid {
            message: format!("Binding \"{name}\" is invalid: target.name: Required value"),
            details: crate::error::Details {
                name: name.clone(),
                group: String::new(),
                kind: "Binding".into(),
            },
            causes: vec![rkube_api::FieldError::required("target.name", "")],
        });
    }
    let key = meta::key(pods, namespace, &name);
    let uid = binding.pointer("/metadata/uid").and_then(Value::as_str);
    // As updates do: the first try starts from the watch cache's copy; a conflict or a
    // refusal reached from it is tried again from the store, whose answer stands.
    let mut from_store = false;
    for _ in 0..16 {
        let Some(Current {
            object: mut pod,
            rev,
            from_cache,
        }) = read_current(state, pods, &key, !from_store).await?
        else {
            return Err(ApiError::not_found(pods, &name));
        };
        if let Err(refused) = bindable(&pod, pods, &name, uid) {
            if from_cache {
                from_store = true;
                continue;
            }
            return Err(refused);
        }
        if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("nodeName".into(), json!(node));
        }
        set_condition(&mut pod, "PodScheduled", "True");
        let bytes = serde_json::to_vec(&pod).map_err(ApiError::internal)?;
        match state.store.update(&key, bytes.clone(), rev).await {
            Ok(written) => {
                state.caches.note_written(pods, &key, &pod, written, &bytes);
                let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
                return Ok(body::value_response(StatusCode::CREATED, &status));
            }
            Err(StoreError::Conflict { .. }) => {
                from_store = true;
                continue;
            }
            Err(StoreError::NotFound { .. }) if from_cache => {
                from_store = true;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict(pods, &name))
}

/// Whether `pod` may be bound: the binding's uid (if any) is the pod's, the pod is not
/// being deleted, and it is on no node yet; otherwise upstream's 409.
fn bindable(
    pod: &Value,
    pods: &ResourceInfo,
    name: &str,
    uid: Option<&str>,
) -> Result<(), ApiError> {
    if let Some(uid) = uid
        && meta::meta_str(pod, "uid") != Some(uid)
    {
        return Err(ApiError::conflict_because(
            pods,
            name,
            "the UID in the binding does not match the pod",
        ));
    }
    if meta::is_terminating(pod) {
        return Err(ApiError::conflict_because(
            pods,
            name,
            &format!("pod {name} is being deleted, cannot be assigned to a host"),
        ));
    }
    if let Some(existing) = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        return Err(ApiError::Conflict {
            message: format!(
                "Operation cannot be fulfilled on pods/binding \"{name}\": pod {name} is already assigned to node \"{existing}\""
            ),
            details: crate::error::Details {
                name: name.to_string(),
                group: String::new(),
                kind: "pods/binding".into(),
            },
        });
    }
    Ok(())
}

/// Sets (or adds) a pod condition.
fn set_condition(pod: &mut Value, ty: &str, status: &str) {
    let now = meta::now_rfc3339();
    let Some(obj) = pod.as_object_mut() else {
        return;
    };
    let st = obj.entry("status").or_insert_with(|| json!({}));
    let Some(st) = st.as_object_mut() else { return };
    let conds = st.entry("conditions").or_insert_with(|| json!([]));
    let Some(list) = conds.as_array_mut() else {
        return;
    };
    let cond =
        json!({"type": ty, "status": status, "lastProbeTime": null, "lastTransitionTime": now});
    match list
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
    {
        Some(c) => *c = cond,
        None => list.push(cond),
    }
}

/// POST `pods/<name>/eviction`: deletes the pod with the eviction's options.
pub async fn evict(
    state: &AppState,
    req: &ResourceRequest,
    q: &Query,
    headers: &HeaderMap,
    raw: &[u8],
) -> Result<Response, ApiError> {
    let ev = if raw.is_empty() {
        json!({})
    } else {
        body::parse_body(headers, raw)?
    };
    let mut opts = DeleteOptions::parse(q, headers, b"")?;
    if let Some(g) = ev
        .pointer("/deleteOptions/gracePeriodSeconds")
        .and_then(Value::as_i64)
    {
        opts.grace_period = Some(g);
    }
    let name = req.name.clone().unwrap_or_default();
    delete_object(
        state,
        req.info,
        req.namespace.as_deref().unwrap_or(""),
        &name,
        &opts,
    )
    .await?;
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201});
    Ok(body::value_response(StatusCode::CREATED, &status))
}

/// Logs, exec, attach, port-forward and proxy: they need the node agent.
pub async fn node_stream(state: &AppState, req: &ResourceRequest) -> Result<Response, ApiError> {
    let info = req.info;
    let name = req.name.clone().unwrap_or_default();
    let sub = req.subresource.as_deref().unwrap_or("");
    let ns = req.namespace.clone().unwrap_or_default();
    let node = if info.kind == "Pod" {
        let key = meta::key(info, &ns, &name);
        let kv = state
            .store
            .get(&key)
            .await?
            .ok_or_else(|| ApiError::not_found(info, &name))?;
        let pod: Value = serde_json::from_slice(&kv.value).map_err(ApiError::internal)?;
        match pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            Some(n) => n.to_string(),
            None => {
                return Err(ApiError::bad_request(format!(
                    "pod {name} does not have a host assigned"
                )));
            }
        }
    } else {
        name.clone()
    };
    Err(ApiError::ServiceUnavailable {
        message: format!(
            "{sub} is not available: no node agent is serving node \"{node}\" (the node agent is not part of this server yet)"
        ),
    })
}
