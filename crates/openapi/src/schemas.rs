//! Component schemas under upstream definition names, with GVK extensions, list kinds and patch metadata.

// k8s-openapi's `schema_name`s already are upstream's definition names (`io.k8s.api.core.v1.Pod`),
// so schemars' definitions need no renaming; same-named kinds of different versions stay apart.

use std::collections::BTreeMap;

use rkube_api::RESOURCES;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use crate::kinds::{self, meta_name};
use crate::refs::DEFINITIONS;
use crate::{Error, extensions};

/// Definition name → schema; `$ref`s point at `#/definitions/<name>`.
pub(crate) type Defs = BTreeMap<String, Value>;

/// The IntOrString definition name.
pub(crate) const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";
/// The Quantity definition name.
pub(crate) const QUANTITY: &str = "io.k8s.apimachinery.pkg.api.resource.Quantity";

/// All component schemas.
#[derive(Debug)]
pub(crate) struct Catalog {
    pub defs: Defs,
}

/// Generates every schema from k8s-openapi and decorates it as upstream serves it.
pub(crate) fn build() -> Result<Catalog, Error> {
    let mut generator = SchemaSettings::draft07().into_generator();
    let kinds = kinds::register_all(&mut generator);
    kinds::register_meta(&mut generator);
    let mut defs: Defs = generator.take_definitions(false).into_iter().collect();

    for def in defs.values_mut() {
        drop_required_metadata(def);
    }
    for k in &kinds {
        if let Some(def) = defs.get_mut(&k.name) {
            set_gvks(def, &[(k.group, k.version, k.kind)]);
        }
    }
    for r in RESOURCES.iter().filter(|r| r.has_verb("list")) {
        let Some(item) = kinds
            .iter()
            .find(|k| k.group == r.group && k.version == r.version && k.kind == r.kind)
        else {
            continue;
        };
        let list_kind = r.list_kind();
        defs.insert(
            format!("{}List", item.name),
            list_schema(&item.name, r.kind, &list_kind, r.group, r.version),
        );
    }
    add_meta_gvks(&mut defs);
    extensions::apply(&mut defs)?;
    Ok(Catalog { defs })
}

/// k8s-openapi marks `metadata` required because its field is not optional; upstream does not.
fn drop_required_metadata(def: &mut Value) {
    let Some(obj) = def.as_object_mut() else {
        return;
    };
    let Some(Value::Array(required)) = obj.get_mut("required") else {
        return;
    };
    required.retain(|v| v != "metadata");
    if required.is_empty() {
        obj.remove("required");
    }
}

fn set_gvks(def: &mut Value, gvks: &[(&str, &str, &str)]) {
    if let Some(obj) = def.as_object_mut() {
        let list: Vec<Value> = gvks
            .iter()
            .map(|(g, v, k)| json!({"group": g, "kind": k, "version": v}))
            .collect();
        obj.insert("x-kubernetes-group-version-kind".into(), Value::Array(list));
    }
}

fn list_schema(item: &str, kind: &str, list_kind: &str, group: &str, version: &str) -> Value {
    json!({
        "description": format!("{list_kind} is a list of {kind} objects."),
        "properties": {
            "apiVersion": {
                "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
                "type": "string"
            },
            "items": {
                "description": format!("Items is the list of {kind} objects."),
                "items": {"$ref": format!("{DEFINITIONS}{item}")},
                "type": "array"
            },
            "kind": {
                "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
                "type": "string"
            },
            "metadata": {
                "$ref": format!("{DEFINITIONS}{}", meta_name("ListMeta")),
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
            }
        },
        "required": ["items"],
        "type": "object",
        "x-kubernetes-group-version-kind": [{"group": group, "kind": list_kind, "version": version}]
    })
}

/// Status and APIResourceList are core/v1 kinds; DeleteOptions and WatchEvent are registered
/// in every group-version, as upstream lists them.
fn add_meta_gvks(defs: &mut Defs) {
    for kind in ["Status", "APIResourceList"] {
        if let Some(def) = defs.get_mut(&meta_name(kind)) {
            set_gvks(def, &[("", "v1", kind)]);
        }
    }
    let mut gvs: Vec<(&str, &str)> = vec![("", "v1")];
    for r in RESOURCES {
        if !gvs.contains(&(r.group, r.version)) {
            gvs.push((r.group, r.version));
        }
    }
    gvs.sort();
    for kind in ["DeleteOptions", "WatchEvent"] {
        if let Some(def) = defs.get_mut(&meta_name(kind)) {
            let gvks: Vec<(&str, &str, &str)> = gvs.iter().map(|(g, v)| (*g, *v, kind)).collect();
            set_gvks(def, &gvks);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_has_a_schema_under_its_openapi_name() {
        let catalog = build().unwrap();
        for r in RESOURCES {
            let name = r.openapi_name();
            let def = catalog.defs.get(&name).unwrap_or_else(|| panic!("{name}"));
            let gvk = &def["x-kubernetes-group-version-kind"][0];
            assert_eq!(
                gvk,
                &json!({"group": r.group, "kind": r.kind, "version": r.version})
            );
        }
    }

    #[test]
    fn same_named_kinds_stay_apart() {
        let catalog = build().unwrap();
        for name in [
            "io.k8s.api.autoscaling.v1.HorizontalPodAutoscaler",
            "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
            "io.k8s.api.core.v1.Event",
            "io.k8s.api.events.v1.Event",
        ] {
            assert!(catalog.defs.contains_key(name), "{name}");
        }
        assert!(
            !catalog.defs.keys().any(|k| k.ends_with('2')),
            "no schemars de-duplication suffixes"
        );
        let v2 = &catalog.defs["io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"];
        assert_eq!(v2["x-kubernetes-group-version-kind"][0]["version"], "v2");
    }

    #[test]
    fn metadata_is_not_required() {
        let catalog = build().unwrap();
        assert!(
            catalog.defs["io.k8s.api.core.v1.Pod"]
                .get("required")
                .is_none()
        );
        assert_eq!(
            catalog.defs["io.k8s.api.core.v1.PodList"]["required"],
            json!(["items"])
        );
    }
}
