//! The k8s-openapi types whose schemas the documents carry, and the kinds they are.

use k8s_openapi::Resource;
use k8s_openapi::api::{
    apps, authentication, autoscaling, batch, coordination, core, discovery, events, networking,
    policy, rbac, scheduling, storage,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use schemars::{JsonSchema, SchemaGenerator};

/// A top-level kind and the name of its component schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KindDef {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Upstream definition name, e.g. `io.k8s.api.core.v1.Pod`.
    pub name: String,
}

fn register<T: Resource + JsonSchema>(generator: &mut SchemaGenerator) -> KindDef {
    generator.subschema_for::<T>();
    KindDef {
        group: T::GROUP,
        version: T::VERSION,
        kind: T::KIND,
        name: T::schema_name().into_owned(),
    }
}

macro_rules! kinds {
    ($($ty:ty),* $(,)?) => {
        /// Adds every known kind's schema (and all it references) to `generator`.
        pub(crate) fn register_all(generator: &mut SchemaGenerator) -> Vec<KindDef> {
            vec![$(register::<$ty>(generator)),*]
        }
    };
}

kinds!(
    core::v1::Binding,
    core::v1::ConfigMap,
    core::v1::Endpoints,
    core::v1::Event,
    core::v1::LimitRange,
    core::v1::Namespace,
    core::v1::Node,
    core::v1::PersistentVolumeClaim,
    core::v1::PersistentVolume,
    core::v1::Pod,
    core::v1::PodTemplate,
    core::v1::ReplicationController,
    core::v1::ResourceQuota,
    core::v1::Secret,
    core::v1::ServiceAccount,
    core::v1::Service,
    apps::v1::ControllerRevision,
    apps::v1::DaemonSet,
    apps::v1::Deployment,
    apps::v1::ReplicaSet,
    apps::v1::StatefulSet,
    autoscaling::v1::HorizontalPodAutoscaler,
    autoscaling::v1::Scale,
    autoscaling::v2::HorizontalPodAutoscaler,
    authentication::v1::TokenRequest,
    batch::v1::CronJob,
    batch::v1::Job,
    coordination::v1::Lease,
    discovery::v1::EndpointSlice,
    events::v1::Event,
    networking::v1::IngressClass,
    networking::v1::Ingress,
    networking::v1::NetworkPolicy,
    policy::v1::Eviction,
    policy::v1::PodDisruptionBudget,
    rbac::v1::ClusterRoleBinding,
    rbac::v1::ClusterRole,
    rbac::v1::RoleBinding,
    rbac::v1::Role,
    scheduling::v1::PriorityClass,
    storage::v1::StorageClass,
);

/// Adds the meta types the operations reference (Status, DeleteOptions, WatchEvent,
/// APIResourceList, Patch) to `generator`.
pub(crate) fn register_meta(generator: &mut SchemaGenerator) {
    generator.subschema_for::<meta::Status>();
    generator.subschema_for::<meta::DeleteOptions>();
    generator.subschema_for::<meta::WatchEvent<core::v1::Pod>>();
    generator.subschema_for::<meta::APIResourceList>();
    generator.subschema_for::<meta::Patch>();
}

/// The definition name of `io.k8s.apimachinery.pkg.apis.meta.v1.<name>`.
pub(crate) fn meta_name(name: &str) -> String {
    format!("io.k8s.apimachinery.pkg.apis.meta.v1.{name}")
}
