//! What kubectl reads from the served OpenAPI documents: explain, param verification, patch metadata, refs.

#![allow(clippy::unwrap_used)]

use serde_json::Value;

fn v3(path: &str) -> Value {
    let body = rkube_openapi::v3_group_version(path).expect("group-version document");
    serde_json::from_slice(body).unwrap()
}

/// Resolves `#/components/schemas/<name>` (v3) or `#/definitions/<name>` (v2) in `doc`.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}

fn walk_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    out.push(x.as_str().unwrap().to_string());
                } else {
                    walk_refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| walk_refs(x, out)),
        _ => {}
    }
}

fn schema_with_gvk<'a>(doc: &'a Value, group: &str, version: &str, kind: &str) -> &'a Value {
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    schemas
        .values()
        .find(|s| {
            s["x-kubernetes-group-version-kind"]
                .as_array()
                .is_some_and(|l| {
                    l.iter().any(|g| {
                        g["group"] == group && g["version"] == version && g["kind"] == kind
                    })
                })
        })
        .unwrap_or_else(|| panic!("no schema for {group}/{version} {kind}"))
}

/// Follows a field of an object schema, through `$ref`, `allOf`, and array items.
fn field<'a>(doc: &'a Value, schema: &'a Value, name: &str) -> &'a Value {
    let mut s = schema;
    loop {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            s = resolve(doc, r).unwrap_or_else(|| panic!("unresolved {r}"));
        } else if let Some(items) = s.get("items") {
            s = items;
        } else if let Some(first) = s.get("allOf").and_then(|a| a.get(0)) {
            s = first;
        } else {
            break;
        }
    }
    &s["properties"][name]
}

#[test]
fn pod_schema_has_gvk_and_explain_can_reach_liveness_probe() {
    let doc = v3("api/v1");
    let pod = &doc["components"]["schemas"]["io.k8s.api.core.v1.Pod"];
    assert_eq!(
        pod["x-kubernetes-group-version-kind"],
        serde_json::json!([{"group": "", "kind": "Pod", "version": "v1"}])
    );
    let pod = schema_with_gvk(&doc, "", "v1", "Pod");
    let spec = field(&doc, pod, "spec");
    let containers = field(&doc, spec, "containers");
    assert_eq!(containers["type"], "array");
    let probe = field(&doc, containers, "livenessProbe");
    let probe_ref = probe["allOf"][0]["$ref"].as_str().unwrap();
    assert_eq!(probe_ref, "#/components/schemas/io.k8s.api.core.v1.Probe");
    assert!(probe["description"].as_str().unwrap().contains("liveness"));
    let resolved = resolve(&doc, probe_ref).unwrap();
    assert!(!resolved["description"].as_str().unwrap().is_empty());
    let port = field(&doc, field(&doc, probe, "httpGet"), "port");
    let int_or_string = resolve(&doc, port["allOf"][0]["$ref"].as_str().unwrap()).unwrap();
    assert_eq!(int_or_string["format"], "int-or-string");
    assert!(
        int_or_string.get("type").is_none(),
        "explain prints <IntOrString> only without a type"
    );
}

#[test]
fn pod_spec_containers_carry_patch_metadata() {
    let doc = v3("api/v1");
    let containers =
        &doc["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    let v2: Value = serde_json::from_slice(rkube_openapi::v2_document()).unwrap();
    let containers = &v2["definitions"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
}

#[test]
fn pod_patch_lists_field_validation_and_dry_run() {
    let doc = v3("api/v1");
    // As kubectl's QueryParamVerifier: every PATCH operation of the GVK must list the parameter.
    let mut seen = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(op) = item.get("patch") else {
            continue;
        };
        let gvk = &op["x-kubernetes-group-version-kind"];
        if gvk["kind"] != "Pod" || gvk["group"] != "" || gvk["version"] != "v1" {
            continue;
        }
        seen += 1;
        let names: Vec<&str> = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for want in ["fieldValidation", "dryRun", "fieldManager", "force"] {
            assert!(names.contains(&want), "{path} lacks {want}");
        }
        assert_eq!(op["x-kubernetes-action"], "patch");
        let content = op["requestBody"]["content"].as_object().unwrap();
        for t in [
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/apply-patch+yaml",
        ] {
            assert!(content.contains_key(t), "{path} patch lacks {t}");
        }
    }
    assert!(seen >= 2, "pods/{{name}} and pods/{{name}}/status");
    let op = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
    assert_eq!(op["operationId"], "patchCoreV1NamespacedPod");
}

#[test]
fn every_ref_resolves() {
    let mut docs: Vec<Value> = rkube_openapi::v3_paths().map(v3).collect();
    docs.push(serde_json::from_slice(rkube_openapi::v2_document()).unwrap());
    for doc in &docs {
        let mut refs = Vec::new();
        walk_refs(doc, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            assert!(resolve(doc, &r).is_some(), "unresolved {r}");
            assert!(
                r.starts_with("#/components/schemas/") || r.starts_with("#/definitions/"),
                "{r}"
            );
        }
    }
}

#[test]
fn index_lists_every_group_version() {
    let index: Value = serde_json::from_slice(rkube_openapi::v3_index()).unwrap();
    for r in rkube_api::RESOURCES {
        let key = r.url_prefix().trim_start_matches('/').to_string();
        let url = index["paths"][&key]["serverRelativeURL"].as_str().unwrap();
        let hash = rkube_openapi::v3_hash(&key).unwrap();
        assert_eq!(url, format!("/openapi/v3/{key}?hash={hash}"));
        assert_eq!(hash.len(), 128);
        let doc = v3(&key);
        // explain finds the GVK on an operation of the resource path.
        let prefix = r.url_prefix();
        let path = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{prefix}/{}", r.plural)
        };
        let item = &doc["paths"][&path];
        let op = ["get", "post"].iter().find_map(|m| item.get(*m)).unwrap();
        assert_eq!(
            op["x-kubernetes-group-version-kind"]["kind"], r.kind,
            "{path}"
        );
        schema_with_gvk(&doc, r.group, r.version, r.kind);
        if r.has_verb("list") {
            schema_with_gvk(&doc, r.group, r.version, &r.list_kind());
        }
    }
    assert!(rkube_openapi::v3_group_version("apis/nope/v1").is_none());
}

#[test]
fn v2_has_same_kinds_and_operations() {
    let v2: Value = serde_json::from_slice(rkube_openapi::v2_document()).unwrap();
    assert_eq!(v2["swagger"], "2.0");
    let pod = &v2["definitions"]["io.k8s.api.core.v1.Pod"];
    assert_eq!(pod["x-kubernetes-group-version-kind"][0]["kind"], "Pod");
    let ios = &v2["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"];
    assert_eq!(ios["type"], "string");
    assert_eq!(ios["format"], "int-or-string");
    let op = &v2["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(op["x-kubernetes-group-version-kind"]["kind"], "Deployment");
    let names: Vec<&str> = op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"fieldValidation") && names.contains(&"dryRun") && names.contains(&"body")
    );
    let scale =
        &v2["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["put"];
    assert_eq!(scale["x-kubernetes-group-version-kind"]["kind"], "Scale");
}

#[test]
fn meta_types_are_present() {
    let doc = v3("apis/apps/v1");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "Status",
        "DeleteOptions",
        "WatchEvent",
        "APIResourceList",
        "ObjectMeta",
        "Patch",
    ] {
        assert!(
            schemas.contains_key(&format!("io.k8s.apimachinery.pkg.apis.meta.v1.{name}")),
            "{name}"
        );
    }
    let quantity = &doc["components"]["schemas"]["io.k8s.apimachinery.pkg.api.resource.Quantity"];
    assert!(quantity.get("oneOf").is_some() && quantity.get("type").is_none());
}

/// Top-level fields of a protobuf message: (field number, payload of length-delimited fields).
fn top_level_fields(mut b: &[u8]) -> Vec<(u64, Vec<u8>)> {
    fn varint(b: &mut &[u8]) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let byte = b[0];
            *b = &b[1..];
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return v;
            }
            shift += 7;
        }
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b);
        assert_eq!(key & 7, 2, "document fields are all length-delimited");
        let len = varint(&mut b) as usize;
        out.push((key >> 3, b[..len].to_vec()));
        b = &b[len..];
    }
    out
}

#[test]
fn v2_protobuf_has_the_document_fields() {
    let pb = rkube_openapi::v2_document_protobuf();
    let fields = top_level_fields(pb);
    let numbers: Vec<u64> = fields.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, [1, 2, 8, 9, 12, 13]);
    assert_eq!(fields[0].1, b"2.0");
    let definitions = &fields[3].1;
    let names: Vec<String> = top_level_fields(definitions)
        .into_iter()
        .map(|(_, named)| String::from_utf8(top_level_fields(&named)[0].1.clone()).unwrap())
        .collect();
    assert!(names.contains(&"io.k8s.api.core.v1.Pod".to_string()));
}
