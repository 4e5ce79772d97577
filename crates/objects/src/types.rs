//! Maps each served group/version/kind to its k8s-openapi type.

use k8s_openapi::api::{
    apps::v1 as apps, autoscaling::v1 as as1, autoscaling::v2 as as2, batch::v1 as batch,
    coordination::v1 as coord, core::v1 as core, discovery::v1 as disc, events::v1 as events,
    networking::v1 as net, policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as sched,
    storage::v1 as storage,
};
use serde::{Serialize, de::DeserializeOwned};

/// Something done with the Rust type of a resource, chosen at run time.
pub(crate) trait TypeVisitor {
    type Output;
    fn visit<T: DeserializeOwned + Serialize>(self) -> Self::Output;
}

/// Calls `v` with the k8s-openapi type of `group`/`version`/`kind`; `None` if there is none.
pub(crate) fn with_type<V: TypeVisitor>(
    group: &str,
    version: &str,
    kind: &str,
    v: V,
) -> Option<V::Output> {
    Some(match (group, version, kind) {
        ("", "v1", "Binding") => v.visit::<core::Binding>(),
        ("", "v1", "ComponentStatus") => v.visit::<core::ComponentStatus>(),
        ("", "v1", "ConfigMap") => v.visit::<core::ConfigMap>(),
        ("", "v1", "Endpoints") => v.visit::<core::Endpoints>(),
        ("", "v1", "Event") => v.visit::<core::Event>(),
        ("", "v1", "LimitRange") => v.visit::<core::LimitRange>(),
        ("", "v1", "Namespace") => v.visit::<core::Namespace>(),
        ("", "v1", "Node") => v.visit::<core::Node>(),
        ("", "v1", "PersistentVolumeClaim") => v.visit::<core::PersistentVolumeClaim>(),
        ("", "v1", "PersistentVolume") => v.visit::<core::PersistentVolume>(),
        ("", "v1", "Pod") => v.visit::<core::Pod>(),
        ("", "v1", "PodTemplate") => v.visit::<core::PodTemplate>(),
        ("", "v1", "ReplicationController") => v.visit::<core::ReplicationController>(),
        ("", "v1", "ResourceQuota") => v.visit::<core::ResourceQuota>(),
        ("", "v1", "Secret") => v.visit::<core::Secret>(),
        ("", "v1", "ServiceAccount") => v.visit::<core::ServiceAccount>(),
        ("", "v1", "Service") => v.visit::<core::Service>(),
        ("apps", "v1", "ControllerRevision") => v.visit::<apps::ControllerRevision>(),
        ("apps", "v1", "DaemonSet") => v.visit::<apps::DaemonSet>(),
        ("apps", "v1", "Deployment") => v.visit::<apps::Deployment>(),
        ("apps", "v1", "ReplicaSet") => v.visit::<apps::ReplicaSet>(),
        ("apps", "v1", "StatefulSet") => v.visit::<apps::StatefulSet>(),
        ("autoscaling", "v1", "HorizontalPodAutoscaler") => {
            v.visit::<as1::HorizontalPodAutoscaler>()
        }
        ("autoscaling", "v1", "Scale") => v.visit::<as1::Scale>(),
        ("autoscaling", "v2", "HorizontalPodAutoscaler") => {
            v.visit::<as2::HorizontalPodAutoscaler>()
        }
        ("batch", "v1", "CronJob") => v.visit::<batch::CronJob>(),
        ("batch", "v1", "Job") => v.visit::<batch::Job>(),
        ("coordination.k8s.io", "v1", "Lease") => v.visit::<coord::Lease>(),
        ("discovery.k8s.io", "v1", "EndpointSlice") => v.visit::<disc::EndpointSlice>(),
        ("events.k8s.io", "v1", "Event") => v.visit::<events::Event>(),
        ("networking.k8s.io", "v1", "IngressClass") => v.visit::<net::IngressClass>(),
        ("networking.k8s.io", "v1", "Ingress") => v.visit::<net::Ingress>(),
        ("networking.k8s.io", "v1", "NetworkPolicy") => v.visit::<net::NetworkPolicy>(),
        ("policy", "v1", "PodDisruptionBudget") => v.visit::<policy::PodDisruptionBudget>(),
        ("policy", "v1", "Eviction") => v.visit::<policy::Eviction>(),
        ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding") => {
            v.visit::<rbac::ClusterRoleBinding>()
        }
        ("rbac.authorization.k8s.io", "v1", "ClusterRole") => v.visit::<rbac::ClusterRole>(),
        ("rbac.authorization.k8s.io", "v1", "RoleBinding") => v.visit::<rbac::RoleBinding>(),
        ("rbac.authorization.k8s.io", "v1", "Role") => v.visit::<rbac::Role>(),
        ("scheduling.k8s.io", "v1", "PriorityClass") => v.visit::<sched::PriorityClass>(),
        ("storage.k8s.io", "v1", "StorageClass") => v.visit::<storage::StorageClass>(),
        _ => return None,
    })
}
