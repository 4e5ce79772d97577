//! Conversion between a served version of a resource and the version it is stored in.

mod event;
mod hpa;

use rkube_api::ResourceInfo;
use serde_json::Value;

use crate::error::DecodeError;

/// The `apiVersion` objects of `info`'s resource are stored as.
pub fn storage_api_version(info: &ResourceInfo) -> String {
    match (info.group, info.kind) {
        ("autoscaling", "HorizontalPodAutoscaler") => "autoscaling/v2".to_string(),
        ("events.k8s.io", "Event") => "v1".to_string(),
        _ => info.api_version(),
    }
}

/// Converts an object of `info`'s version into the storage version.
pub fn to_storage(info: &ResourceInfo, obj: Value) -> Result<Value, DecodeError> {
    let mut obj = obj;
    match (info.group, info.version, info.kind) {
        ("autoscaling", "v1", "HorizontalPodAutoscaler") => obj = hpa::v1_to_v2(obj)?,
        ("events.k8s.io", "v1", "Event") => obj = event::events_to_core(obj)?,
        _ => {}
    }
    set_api_version(&mut obj, &storage_api_version(info));
    Ok(obj)
}

/// Converts a stored object into `info`'s version.
pub fn from_storage(info: &ResourceInfo, obj: Value) -> Result<Value, DecodeError> {
    let mut obj = obj;
    match (info.group, info.version, info.kind) {
        ("autoscaling", "v1", "HorizontalPodAutoscaler") => obj = hpa::v2_to_v1(obj)?,
        ("events.k8s.io", "v1", "Event") => obj = event::core_to_events(obj)?,
        _ => {}
    }
    set_api_version(&mut obj, &info.api_version());
    Ok(obj)
}

fn set_api_version(obj: &mut Value, api_version: &str) {
    if let Value::Object(m) = obj {
        m.insert("apiVersion".into(), Value::String(api_version.to_string()));
    }
}
