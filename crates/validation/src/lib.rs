//! Validation of built-in objects as upstream validates them.
//!
//! The API server calls [`validate_create`], [`validate_update`] and
//! [`validate_status_update`] with decoded, defaulted objects; each returns
//! upstream-shaped field errors (empty when the object is valid).
//!
//! ```
//! use rkube_api::registry::find_kind;
//! use serde_json::json;
//!
//! let info = find_kind("", "v1", "ConfigMap").unwrap();
//! let cm = json!({"metadata": {"name": "Bad_Name", "namespace": "default"}});
//! let errs = rkube_validation::validate_create(info, &cm);
//! assert!(errs[0].to_string().starts_with("metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"));
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod apps;
mod batch;
mod config;
mod container;
mod cron;
mod meta;
mod misc;
pub mod names;
mod networking;
mod pod;
mod pod_update;
mod policy;
pub mod quantity;
mod rbac;
mod resources;
mod scheduling;
mod selector;
mod service;
mod storage;
mod util;
mod volume;

use rkube_api::{FieldError, ResourceInfo};
use serde_json::Value;

use names::NameRule;
use util::{Errs, get};

/// Validates an object about to be created.
pub fn validate_create(info: &ResourceInfo, obj: &Value) -> Vec<FieldError> {
    let mut errs = meta::validate_object_meta(
        get(obj, "metadata"),
        info.namespaced,
        name_rule(info),
        "metadata",
    );
    errs.extend(validate_kind(info, obj, None));
    errs
}

/// Validates an update: the checks of create on `new`, plus immutability rules against `old`.
pub fn validate_update(info: &ResourceInfo, new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs =
        meta::validate_object_meta_update(get(new, "metadata"), get(old, "metadata"), "metadata");
    errs.extend(validate_kind(info, new, Some(old)));
    errs
}

/// Validates a write of the status subresource.
pub fn validate_status_update(info: &ResourceInfo, new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errs =
        meta::validate_object_meta_update(get(new, "metadata"), get(old, "metadata"), "metadata");
    errs.extend(validate_status(info, new, old));
    errs
}

/// The rule `metadata.name` of this kind follows.
pub fn name_rule(info: &ResourceInfo) -> NameRule {
    match (info.group, info.kind) {
        ("", "Namespace") => NameRule::Dns1123Label,
        ("", "Service") => NameRule::Dns1035Label,
        ("rbac.authorization.k8s.io", _) | ("autoscaling", "HorizontalPodAutoscaler") => {
            NameRule::PathSegment
        }
        (
            ""
            | "apps"
            | "batch"
            | "coordination.k8s.io"
            | "discovery.k8s.io"
            | "events.k8s.io"
            | "networking.k8s.io"
            | "policy"
            | "scheduling.k8s.io"
            | "storage.k8s.io",
            _,
        ) => NameRule::Dns1123Subdomain,
        _ => NameRule::Any,
    }
}

/// Kind-specific checks; `old` is the stored object on update.
fn validate_kind(info: &ResourceInfo, obj: &Value, old: Option<&Value>) -> Errs {
    match (info.group, info.kind) {
        ("", "Pod") => pod::validate_pod(obj, old),
        ("", "PodTemplate") => pod::validate_pod_template(obj, old),
        ("", "ReplicationController") => apps::validate_replication_controller(obj, old),
        ("", "Service") => service::validate_service(obj, old),
        ("", "Endpoints") => service::validate_endpoints(obj, old),
        ("", "ConfigMap") => config::validate_config_map(obj, old),
        ("", "Secret") => config::validate_secret(obj, old),
        ("", "ServiceAccount") => config::validate_service_account(obj, old),
        ("", "Namespace") => misc::validate_namespace(obj, old),
        ("", "Node") => misc::validate_node(obj, old),
        ("", "Event") | ("events.k8s.io", "Event") => misc::validate_event(obj, old),
        ("", "PersistentVolume") => storage::validate_pv(obj, old),
        ("", "PersistentVolumeClaim") => storage::validate_pvc(obj, old),
        ("", "LimitRange") => policy::validate_limit_range(obj, old),
        ("", "ResourceQuota") => policy::validate_resource_quota(obj, old),
        ("", "Binding") => pod::validate_binding(obj),
        ("apps", "Deployment") => apps::validate_deployment(obj, old),
        ("apps", "ReplicaSet") => apps::validate_replica_set(obj, old),
        ("apps", "DaemonSet") => apps::validate_daemon_set(obj, old),
        ("apps", "StatefulSet") => apps::validate_stateful_set(obj, old),
        ("apps", "ControllerRevision") => apps::validate_controller_revision(obj, old),
        ("batch", "Job") => batch::validate_job(obj, old),
        ("batch", "CronJob") => batch::validate_cron_job(obj, old),
        ("coordination.k8s.io", "Lease") => misc::validate_lease(obj, old),
        ("discovery.k8s.io", "EndpointSlice") => service::validate_endpoint_slice(obj, old),
        ("networking.k8s.io", "Ingress") => networking::validate_ingress(obj, old),
        ("networking.k8s.io", "IngressClass") => networking::validate_ingress_class(obj, old),
        ("networking.k8s.io", "NetworkPolicy") => networking::validate_network_policy(obj, old),
        ("policy", "PodDisruptionBudget") => policy::validate_pdb(obj, old),
        ("scheduling.k8s.io", "PriorityClass") => policy::validate_priority_class(obj, old),
        ("autoscaling", "HorizontalPodAutoscaler") => policy::validate_hpa(obj, old),
        ("rbac.authorization.k8s.io", kind) => rbac::validate_rbac(kind, obj, old),
        ("storage.k8s.io", "StorageClass") => storage::validate_storage_class(obj, old),
        _ => Errs::new(),
    }
}

/// Status-subresource checks (light: the obvious numeric invariants).
fn validate_status(info: &ResourceInfo, new: &Value, old: &Value) -> Errs {
    match (info.group, info.kind) {
        ("", "Pod") => pod_update::validate_pod_status(new, old),
        (
            "apps" | "",
            "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "ReplicationController",
        ) => apps::validate_workload_status(new),
        ("batch", "Job") => batch::validate_job_status(new),
        _ => Errs::new(),
    }
}
