//! Server-side Table columns and cells for every built-in type, as kubectl shows them.
//!
//! The API server answers `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` with a
//! `meta.k8s.io/v1` Table built from [`columns`] and, per object, [`cells`]. Both follow
//! upstream v1.33's `pkg/printers/internalversion` (wide columns always included, as the
//! upstream API server does), and the default `NAME`/`CREATED AT` table for kinds without one.

mod apps;
mod batch;
mod core;
pub mod duration;
mod event;
mod ingress;
mod misc;
mod network;
mod pod;
mod rbac;
mod storage;
mod util;

use jiff::Timestamp;
use rkube_api::ResourceInfo;
use serde_json::Value;

use crate::util::Obj;

/// One column definition of a `meta.k8s.io/v1` Table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    /// "string" | "integer" | "date" | "number" | "boolean".
    pub type_: &'static str,
    /// "name" for the NAME column, else "".
    pub format: &'static str,
    pub description: &'static str,
    /// 0 shown always, 1 only with `-o wide`.
    pub priority: i32,
}

/// A plain (non-name) column.
pub(crate) const fn col(
    name: &'static str,
    type_: &'static str,
    description: &'static str,
    priority: i32,
) -> Column {
    Column {
        name,
        type_,
        format: "",
        description,
        priority,
    }
}

pub(crate) const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const CREATED_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";

/// The NAME column every printer starts with.
pub(crate) const NAME: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    description: NAME_DESC,
    priority: 0,
};
/// The AGE column.
pub(crate) const AGE: Column = col("Age", "string", CREATED_DESC, 0);

/// Upstream's default table for kinds without a printer: `NAME` and `CREATED AT`.
pub static DEFAULT_COLUMNS: &[Column] = &[NAME, col("Created At", "date", CREATED_DESC, 0)];

type CellsFn = fn(Obj<'_>, Timestamp) -> Vec<Value>;

fn default_cells(obj: Obj<'_>, _now: Timestamp) -> Vec<Value> {
    vec![
        util::s(obj.name()),
        util::s(duration::rfc3339(
            obj.time(&["metadata", "creationTimestamp"]),
        )),
    ]
}

/// The printer (columns and cell function) upstream uses for a group and kind.
fn printer(group: &str, kind: &str) -> (&'static [Column], CellsFn) {
    match (group, kind) {
        ("", "Pod") => (pod::POD_COLUMNS, pod::pod_cells),
        ("", "PodTemplate") => (pod::POD_TEMPLATE_COLUMNS, pod::pod_template_cells),
        ("", "Node") => (core::NODE_COLUMNS, core::node_cells),
        ("", "Namespace") => (core::NAMESPACE_COLUMNS, core::namespace_cells),
        ("", "Service") => (network::SERVICE_COLUMNS, network::service_cells),
        ("", "Endpoints") => (network::ENDPOINTS_COLUMNS, network::endpoints_cells),
        ("", "ConfigMap") => (core::CONFIGMAP_COLUMNS, core::configmap_cells),
        ("", "Secret") => (core::SECRET_COLUMNS, core::secret_cells),
        ("", "ServiceAccount") => (core::SERVICE_ACCOUNT_COLUMNS, core::service_account_cells),
        ("", "PersistentVolume") => (storage::PV_COLUMNS, storage::pv_cells),
        ("", "PersistentVolumeClaim") => (storage::PVC_COLUMNS, storage::pvc_cells),
        ("", "ResourceQuota") => (core::RESOURCE_QUOTA_COLUMNS, core::resource_quota_cells),
        ("", "ReplicationController") => (apps::RC_COLUMNS, apps::rc_cells),
        ("", "Event") => (event::EVENT_COLUMNS, event::core_event_cells),
        ("events.k8s.io", "Event") => (event::EVENT_COLUMNS, event::events_v1_cells),
        ("apps", "Deployment") => (apps::DEPLOYMENT_COLUMNS, apps::deployment_cells),
        ("apps", "ReplicaSet") => (apps::REPLICASET_COLUMNS, apps::replicaset_cells),
        ("apps", "StatefulSet") => (apps::STATEFULSET_COLUMNS, apps::statefulset_cells),
        ("apps", "DaemonSet") => (apps::DAEMONSET_COLUMNS, apps::daemonset_cells),
        ("apps", "ControllerRevision") => (
            apps::CONTROLLER_REVISION_COLUMNS,
            apps::controller_revision_cells,
        ),
        ("batch", "Job") => (batch::JOB_COLUMNS, batch::job_cells),
        ("batch", "CronJob") => (batch::CRONJOB_COLUMNS, batch::cronjob_cells),
        ("autoscaling", "HorizontalPodAutoscaler") => (misc::HPA_COLUMNS, misc::hpa_cells),
        ("coordination.k8s.io", "Lease") => (misc::LEASE_COLUMNS, misc::lease_cells),
        ("discovery.k8s.io", "EndpointSlice") => (
            network::ENDPOINT_SLICE_COLUMNS,
            network::endpoint_slice_cells,
        ),
        ("networking.k8s.io", "Ingress") => (ingress::INGRESS_COLUMNS, ingress::ingress_cells),
        ("networking.k8s.io", "IngressClass") => {
            (ingress::INGRESS_CLASS_COLUMNS, ingress::ingress_class_cells)
        }
        ("networking.k8s.io", "NetworkPolicy") => (
            ingress::NETWORK_POLICY_COLUMNS,
            ingress::network_policy_cells,
        ),
        ("policy", "PodDisruptionBudget") => (misc::PDB_COLUMNS, misc::pdb_cells),
        ("scheduling.k8s.io", "PriorityClass") => {
            (misc::PRIORITY_CLASS_COLUMNS, misc::priority_class_cells)
        }
        ("storage.k8s.io", "StorageClass") => {
            (storage::STORAGE_CLASS_COLUMNS, storage::storage_class_cells)
        }
        ("rbac.authorization.k8s.io", "RoleBinding") => {
            (rbac::ROLE_BINDING_COLUMNS, rbac::binding_cells)
        }
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            (rbac::CLUSTER_ROLE_BINDING_COLUMNS, rbac::binding_cells)
        }
        _ => (DEFAULT_COLUMNS, default_cells),
    }
}

/// The Table columns for `info` (wide, priority-1 columns included).
pub fn columns(info: &ResourceInfo) -> &'static [Column] {
    printer(info.group, info.kind).0
}

/// The Table cells of one object, one per column of [`columns`].
pub fn cells(info: &ResourceInfo, obj: &Value, now: Timestamp) -> Vec<Value> {
    (printer(info.group, info.kind).1)(Obj(obj), now)
}

#[cfg(test)]
mod tests;
