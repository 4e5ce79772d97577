//! Upstream's defaulting of every built-in type, applied to JSON objects.

mod admission;
mod apps;
mod batch;
mod core;
mod misc;
mod pod;
mod util;

use rkube_api::ResourceInfo;
use serde_json::{Value, json};

pub use admission::apply_pod_admission_defaults;
pub use batch::apply_job_create_defaults;
pub(crate) use misc::{core_event, events_event};

/// Fills in the defaults upstream's `SetObjectDefaults_<Kind>` fills in, and the
/// empty structs Go always serializes (`resources: {}`, `status: {}`, a template's
/// `creationTimestamp: null`), so the object reads back as upstream's does.
///
/// Idempotent; run it after [`crate::decode`] on every write.
pub fn apply_defaults(info: &ResourceInfo, obj: &mut Value) {
    let Some(o) = obj.as_object_mut() else { return };
    match (info.group, info.version, info.kind) {
        ("", "v1", "Pod") => pod::pod(o),
        ("", "v1", "PodTemplate") => core::pod_template(o),
        ("", "v1", "ReplicationController") => core::replication_controller(o),
        ("", "v1", "Service") => core::service(o),
        ("", "v1", "Secret") => core::secret(o),
        ("", "v1", "Namespace") => core::namespace(o),
        ("", "v1", "Node") => core::node(o),
        ("", "v1", "PersistentVolume") => core::persistent_volume(o),
        ("", "v1", "PersistentVolumeClaim") => core::persistent_volume_claim(o),
        ("", "v1", "Endpoints") => core::endpoints(o),
        ("", "v1", "LimitRange") => core::limit_range(o),
        ("", "v1", "ResourceQuota") => core::resource_quota(o),
        ("", "v1", "Event") => misc::core_event(o),
        ("events.k8s.io", "v1", "Event") => misc::events_event(o),
        ("apps", "v1", "Deployment") => apps::deployment(o),
        ("apps", "v1", "ReplicaSet") => apps::replica_set(o),
        ("apps", "v1", "StatefulSet") => apps::stateful_set(o),
        ("apps", "v1", "DaemonSet") => apps::daemon_set(o),
        ("batch", "v1", "Job") => batch::job(o),
        ("batch", "v1", "CronJob") => batch::cron_job(o),
        ("autoscaling", "v1", "HorizontalPodAutoscaler") => misc::hpa_v1(o),
        ("autoscaling", "v2", "HorizontalPodAutoscaler") => misc::hpa_v2(o),
        ("discovery.k8s.io", "v1", "EndpointSlice") => misc::endpoint_slice(o),
        ("networking.k8s.io", "v1", "NetworkPolicy") => misc::network_policy(o),
        ("networking.k8s.io", "v1", "IngressClass") => misc::ingress_class(o),
        ("networking.k8s.io", "v1", "Ingress") => misc::ingress(o),
        ("scheduling.k8s.io", "v1", "PriorityClass") => misc::priority_class(o),
        ("storage.k8s.io", "v1", "StorageClass") => misc::storage_class(o),
        ("rbac.authorization.k8s.io", "v1", "RoleBinding" | "ClusterRoleBinding") => {
            misc::role_binding(o)
        }
        _ => {}
    }
}

/// Defaults upstream applies only when an object is created: the admission
/// defaults of pods ([`apply_pod_admission_defaults`]) and a namespace's
/// `kubernetes` finalizer. Jobs need their uid: see [`apply_job_create_defaults`].
pub fn apply_create_defaults(info: &ResourceInfo, obj: &mut Value) {
    match (info.group, info.kind) {
        ("", "Pod") => apply_pod_admission_defaults(obj),
        ("", "Namespace") => {
            if let Some(o) = obj.as_object_mut() {
                let spec = util::ensure_obj(o, "spec");
                util::set_if_zero(spec, "finalizers", json!(["kubernetes"]));
            }
        }
        _ => {}
    }
}
