//! The scheduler's writes to the API: binding, events, pod conditions and preemption.

use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::error::SchedulerError;
use crate::pod_info::PodInfo;

/// Writes the scheduler's decisions through kube-rs.
#[derive(Clone)]
pub struct ClusterApi {
    client: Client,
    component: String,
    instance: String,
}

impl ClusterApi {
    /// Writes as `component` (the scheduler name).
    pub fn new(client: Client, component: &str) -> ClusterApi {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        ClusterApi {
            client,
            component: component.to_string(),
            instance: format!("{component}-{host}"),
        }
    }

    fn pods(&self, ns: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// POSTs `pods/<name>/binding`.
    pub async fn bind(&self, pod: &PodInfo, node: &str) -> Result<(), SchedulerError> {
        let binding = Binding {
            metadata: ObjectMeta {
                name: Some(pod.name().to_string()),
                namespace: Some(pod.namespace.clone()),
                uid: pod.pod.metadata.uid.clone(),
                ..ObjectMeta::default()
            },
            target: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Node".into()),
                name: Some(node.to_string()),
                ..ObjectReference::default()
            },
        };
        self.pods(&pod.namespace)
            .create_subresource::<_, serde_json::Value>(
                "binding",
                pod.name(),
                &PostParams::default(),
                &binding,
            )
            .await
            .map(|_| ())
            .map_err(|source| SchedulerError::Api {
                action: "bind",
                pod: pod.key.clone(),
                source,
            })
    }

    /// The client the writes go through.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The scheduler's name, as events' `reportingComponent`.
    pub fn component(&self) -> &str {
        &self.component
    }

    /// This scheduler instance, as events' `reportingInstance`.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Sets PodScheduled=False/Unschedulable (and optionally nominatedNodeName) on the pod status.
    pub async fn set_unschedulable(
        &self,
        pod: &PodInfo,
        message: &str,
        nominated: Option<&str>,
    ) -> Result<(), SchedulerError> {
        let current = pod
            .pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"));
        let same = current.is_some_and(|c| {
            c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
                && c.message.as_deref() == Some(message)
        });
        if same && nominated.is_none() {
            return Ok(());
        }
        let mut status = json!({"conditions": [{
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
            "lastProbeTime": null,
            "lastTransitionTime": Timestamp::now().to_string(),
        }]});
        if let Some(n) = nominated {
            status["nominatedNodeName"] = json!(n);
        }
        self.pods(&pod.namespace)
            .patch_status(
                pod.name(),
                &PatchParams::default(),
                &Patch::Strategic(json!({ "status": status })),
            )
            .await
            .map(|_| ())
            .map_err(|source| SchedulerError::Api {
                action: "update status of",
                pod: pod.key.clone(),
                source,
            })
    }

    /// Deletes a preemption victim.
    pub async fn delete(&self, pod: &PodInfo) -> Result<(), SchedulerError> {
        self.pods(&pod.namespace)
            .delete(pod.name(), &DeleteParams::default())
            .await
            .map(|_| ())
            .map_err(|source| SchedulerError::Api {
                action: "delete",
                pod: pod.key.clone(),
                source,
            })
    }
}
