//! ControllerRevisions of DaemonSets and StatefulSets: one per pod template, numbered in order.

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

use crate::error::{ControllerError, is_conflict};
use crate::podutil::{controller_ref, new_controller_ref};

/// The label carrying a pod's (and a revision's) template revision.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// The workload a revision belongs to.
pub struct RevisionOwner<'a> {
    /// `DaemonSet` or `StatefulSet` (apps/v1).
    pub kind: &'static str,
    pub name: &'a str,
    pub namespace: &'a str,
    pub uid: &'a str,
    pub template: Option<&'a PodTemplateSpec>,
}

/// Creates the ControllerRevision `revision_name` (labelled `hash_label`) if it is missing,
/// numbered one above the owner's newest revision.
pub async fn ensure_revision(
    client: &Client,
    owner: &RevisionOwner<'_>,
    revision_name: &str,
    hash_label: &str,
) -> Result<(), ControllerError> {
    let ns = owner.namespace;
    let api: Api<ControllerRevision> = Api::namespaced(client.clone(), ns);
    let existing = api
        .get_opt(revision_name)
        .await
        .map_err(ControllerError::api(format!(
            "get controllerrevision {ns}/{revision_name}"
        )))?;
    if existing.is_some() {
        return Ok(());
    }
    let all = api
        .list(&ListParams::default())
        .await
        .map_err(ControllerError::api(format!(
            "list controllerrevisions in {ns}"
        )))?;
    let max = all
        .items
        .iter()
        .filter(|r| controller_ref(&r.metadata).is_some_and(|o| o.uid == owner.uid))
        .map(|r| r.revision)
        .max()
        .unwrap_or(0);
    let template = serde_json::to_value(owner.template)
        .map_err(ControllerError::json(format!("template of {}", owner.name)))?;
    let mut labels = owner
        .template
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    labels.insert(REVISION_HASH_LABEL.into(), hash_label.to_owned());
    let cr = ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision_name.to_owned()),
            namespace: Some(ns.to_owned()),
            labels: Some(labels),
            owner_references: Some(vec![new_controller_ref(
                "apps/v1", owner.kind, owner.name, owner.uid,
            )]),
            ..ObjectMeta::default()
        },
        data: Some(RawExtension(json!({"spec": {"template": template}}))),
        revision: max + 1,
    };
    match api.create(&PostParams::default(), &cr).await {
        Ok(_) => Ok(()),
        Err(e) if is_conflict(&e) => Ok(()),
        Err(e) => Err(ControllerError::api(format!(
            "create controllerrevision {ns}/{revision_name}"
        ))(e)),
    }
}
