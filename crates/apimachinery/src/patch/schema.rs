//! The merge metadata of every built-in type: which lists merge, by which key, and the type graph.

use std::collections::HashMap;
use std::sync::LazyLock;

use k8s_openapi::api;
use rkube_api::ResourceInfo;
use serde_json::Value;

/// Per-definition patch strategies extracted from the upstream OpenAPI.
const STRATEGIES_JSON: &str = include_str!("../../data/list-merge-strategies.json");

/// How one field of a definition merges.
#[derive(Debug, Default, Clone)]
pub(crate) struct FieldMeta {
    /// `patch-strategy` contains `merge`.
    pub merge: bool,
    /// `patch-strategy` contains `replace`.
    pub replace: bool,
    /// `patch-merge-key`, for lists of objects that merge.
    pub merge_key: Option<String>,
    /// The definition of the field's object value, or of its list's elements.
    pub child: Option<String>,
}

/// One definition (object type) and its fields that have merge metadata or nested types.
#[derive(Debug, Default)]
struct Definition {
    fields: HashMap<String, FieldMeta>,
}

/// Every known definition by upstream OpenAPI name.
#[derive(Debug, Default)]
struct Graph {
    defs: HashMap<String, Definition>,
}

static GRAPH: LazyLock<Graph> = LazyLock::new(build_graph);

/// The merge metadata at one point of an object: a definition, or nothing known.
#[derive(Debug, Clone, Copy)]
pub struct PatchMeta {
    def: Option<&'static Definition>,
}

static EMPTY_FIELD: LazyLock<FieldMeta> = LazyLock::new(FieldMeta::default);

impl PatchMeta {
    /// The metadata of a resource's top-level kind.
    pub fn for_resource(info: &ResourceInfo) -> PatchMeta {
        PatchMeta::for_definition(&info.openapi_name())
    }

    /// The metadata of an OpenAPI definition such as `io.k8s.api.core.v1.PodSpec`.
    pub fn for_definition(name: &str) -> PatchMeta {
        PatchMeta {
            def: GRAPH.defs.get(name),
        }
    }

    /// No metadata: every list is replaced, every map merged.
    pub fn none() -> PatchMeta {
        PatchMeta { def: None }
    }

    /// Whether this point has a known definition.
    pub fn is_known(&self) -> bool {
        self.def.is_some()
    }

    /// How the field `name` merges.
    pub(crate) fn field(&self, name: &str) -> &'static FieldMeta {
        self.def
            .and_then(|d| d.fields.get(name))
            .unwrap_or(&EMPTY_FIELD)
    }

    /// The metadata of the value (or list elements) of field `name`.
    pub(crate) fn child(&self, name: &str) -> PatchMeta {
        match &self.field(name).child {
            Some(child) => PatchMeta::for_definition(child),
            None => PatchMeta::none(),
        }
    }
}

/// Registers the schema of every served kind (and the types they reference) with `gen`.
fn register_roots(g: &mut schemars::SchemaGenerator) {
    macro_rules! roots {
        ($($t:ty),* $(,)?) => { $( let _ = g.subschema_for::<$t>(); )* };
    }
    roots!(
        api::core::v1::Binding,
        api::core::v1::ConfigMap,
        api::core::v1::Endpoints,
        api::core::v1::Event,
        api::core::v1::LimitRange,
        api::core::v1::Namespace,
        api::core::v1::Node,
        api::core::v1::PersistentVolumeClaim,
        api::core::v1::PersistentVolume,
        api::core::v1::Pod,
        api::core::v1::PodTemplate,
        api::core::v1::ReplicationController,
        api::core::v1::ResourceQuota,
        api::core::v1::Secret,
        api::core::v1::ServiceAccount,
        api::core::v1::Service,
        api::apps::v1::ControllerRevision,
        api::apps::v1::DaemonSet,
        api::apps::v1::Deployment,
        api::apps::v1::ReplicaSet,
        api::apps::v1::StatefulSet,
        api::autoscaling::v1::HorizontalPodAutoscaler,
        api::autoscaling::v1::Scale,
        api::autoscaling::v2::HorizontalPodAutoscaler,
        api::batch::v1::CronJob,
        api::batch::v1::Job,
        api::coordination::v1::Lease,
        api::discovery::v1::EndpointSlice,
        api::events::v1::Event,
        api::networking::v1::IngressClass,
        api::networking::v1::Ingress,
        api::networking::v1::NetworkPolicy,
        api::policy::v1::PodDisruptionBudget,
        api::policy::v1::Eviction,
        api::rbac::v1::ClusterRoleBinding,
        api::rbac::v1::ClusterRole,
        api::rbac::v1::RoleBinding,
        api::rbac::v1::Role,
        api::scheduling::v1::PriorityClass,
        api::storage::v1::StorageClass,
    );
}

/// The definition a `$ref` such as `#/$defs/io.k8s.api.core.v1.PodSpec` points at.
fn ref_name(schema: &Value) -> Option<String> {
    let r = schema.get("$ref")?.as_str()?;
    let name = r.rsplit('/').next()?;
    Some(name.replace("~1", "/").replace("~0", "~"))
}

/// The definition of a property's object value or of its array's items.
fn child_of(prop: &Value) -> Option<String> {
    ref_name(prop).or_else(|| prop.get("items").and_then(ref_name))
}

fn build_graph() -> Graph {
    let mut g = schemars::SchemaGenerator::default();
    register_roots(&mut g);
    let mut graph = Graph::default();
    for (name, schema) in g.definitions() {
        let mut def = Definition::default();
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (field, prop) in props {
                if let Some(child) = child_of(prop) {
                    def.fields.entry(field.clone()).or_default().child = Some(child);
                }
            }
        }
        graph.defs.insert(name.clone(), def);
    }
    let strategies: HashMap<String, HashMap<String, Value>> =
        serde_json::from_str(STRATEGIES_JSON).unwrap_or_default();
    for (name, fields) in strategies {
        let def = graph.defs.entry(name).or_default();
        for (field, meta) in fields {
            let entry = def.fields.entry(field).or_default();
            if let Some(s) = meta.get("patch-strategy").and_then(Value::as_str) {
                entry.merge = s.split(',').any(|p| p == "merge");
                entry.replace = s.split(',').any(|p| p == "replace");
            }
            entry.merge_key = meta
                .get("patch-merge-key")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
    }
    graph
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pod_containers_merge_by_name() {
        let pod = PatchMeta::for_definition("io.k8s.api.core.v1.Pod");
        assert!(pod.is_known());
        let spec = pod.child("spec");
        let containers = spec.field("containers");
        assert!(containers.merge);
        assert_eq!(containers.merge_key.as_deref(), Some("name"));
        let container = spec.child("containers");
        assert_eq!(
            container.field("ports").merge_key.as_deref(),
            Some("containerPort")
        );
        assert!(pod.child("metadata").field("finalizers").merge);
    }

    #[test]
    fn every_resource_has_a_definition() {
        for r in rkube_api::RESOURCES {
            assert!(
                PatchMeta::for_resource(r).is_known(),
                "{} has no definition",
                r.openapi_name()
            );
        }
    }
}
