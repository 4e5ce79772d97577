//! Sends pod statuses to the API server (the `status` subresource) when they
//! differ from what the API shows, and deletes pods whose containers are gone.

use k8s_openapi::api::core::v1::{Pod, PodStatus};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::{Map, Value, json};

use crate::error::{KubeletError, is_conflict, is_not_found};
use crate::podutil;

/// The status fields the kubelet owns; a merge patch sets each (null when
/// absent), so nothing stale survives.
const OWNED: [&str; 12] = [
    "phase",
    "conditions",
    "hostIP",
    "hostIPs",
    "podIP",
    "podIPs",
    "startTime",
    "qosClass",
    "initContainerStatuses",
    "containerStatuses",
    "message",
    "reason",
];

fn owned(status: &Value) -> Map<String, Value> {
    OWNED
        .iter()
        .map(|k| {
            (
                k.to_string(),
                status.get(*k).cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// The merge patch that makes `old` show `new`, or `None` when it already does.
pub fn status_patch(uid: &str, old: Option<&PodStatus>, new: &PodStatus) -> Option<Value> {
    let new = serde_json::to_value(new).unwrap_or_default();
    let old = old
        .map(|o| serde_json::to_value(o).unwrap_or_default())
        .unwrap_or_default();
    let (old, new) = (owned(&old), owned(&new));
    (old != new).then(|| json!({"metadata": {"uid": uid}, "status": new}))
}

/// Writes pod statuses and final deletions.
#[derive(Clone)]
pub struct StatusManager {
    client: kube::Client,
}

impl StatusManager {
    /// A manager writing through `client`.
    pub fn new(client: kube::Client) -> Self {
        StatusManager { client }
    }

    fn api(&self, pod: &Pod) -> Api<Pod> {
        Api::namespaced(
            self.client.clone(),
            pod.metadata.namespace.as_deref().unwrap_or("default"),
        )
    }

    /// Sends `status` unless `pod` already shows it; returns the pod as the
    /// API stored it (`None` when nothing was sent or the pod is gone).
    pub async fn set(&self, pod: &Pod, status: &PodStatus) -> Result<Option<Pod>, KubeletError> {
        let Some(patch) = status_patch(podutil::uid(pod), pod.status.as_ref(), status) else {
            return Ok(None);
        };
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        match self
            .api(pod)
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(p) if p.metadata.uid == pod.metadata.uid => Ok(Some(p)),
            Ok(_) => Ok(None),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(KubeletError::api(
                format!("updating the status of pod {}", podutil::key(pod)),
                e,
            )),
        }
    }

    /// Deletes the pod object at once (its containers are gone), if it is still this pod.
    pub async fn delete(&self, pod: &Pod) -> Result<(), KubeletError> {
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        match self.api(pod).delete(name, &params).await {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(()),
            Err(e) => Err(KubeletError::api(
                format!("deleting pod {}", podutil::key(pod)),
                e,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_only_changes_and_nulls_what_went_away() {
        let old: PodStatus = serde_json::from_value(json!({
            "phase": "Pending", "podIP": "10.42.0.2", "nominatedNodeName": "x"}))
        .unwrap();
        let new: PodStatus = serde_json::from_value(json!({"phase": "Running"})).unwrap();
        let p = status_patch("u", Some(&old), &new).unwrap();
        assert_eq!(p["status"]["phase"], "Running");
        assert!(p["status"]["podIP"].is_null());
        assert!(p["status"].get("nominatedNodeName").is_none());
        assert_eq!(p["metadata"]["uid"], "u");
        assert!(status_patch("u", Some(&new), &new).is_none());
    }
}
