//! Table tests of the three patch formats, modelled on upstream's strategic merge patch cases.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn pods() -> &'static ResourceInfo {
    rkube_api::registry::find("", "v1", "pods").unwrap()
}

fn deployments() -> &'static ResourceInfo {
    rkube_api::registry::find("apps", "v1", "deployments").unwrap()
}

fn smp(original: Value, patch: Value) -> Value {
    apply_patch(
        &original,
        patch.to_string().as_bytes(),
        PatchType::StrategicMerge,
        pods(),
    )
    .unwrap()
}

fn pod(containers: Value) -> Value {
    json!({"metadata": {"name": "p"}, "spec": {"containers": containers}})
}

#[test]
fn content_types() {
    assert_eq!(
        PatchType::from_content_type("application/strategic-merge-patch+json; charset=utf-8"),
        Some(PatchType::StrategicMerge)
    );
    assert_eq!(
        PatchType::from_content_type("application/json-patch+json"),
        Some(PatchType::Json)
    );
    assert_eq!(
        PatchType::from_content_type("application/merge-patch+json"),
        Some(PatchType::Merge)
    );
    assert_eq!(PatchType::from_content_type("application/json"), None);
}

#[test]
fn containers_merge_by_name_and_new_ones_come_first() {
    let out = smp(
        pod(json!([{"name": "a", "image": "nginx"}])),
        json!({"spec": {"containers": [{"name": "a", "image": "nginx:2"}, {"name": "b", "image": "redis"}]}}),
    );
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "a", "image": "nginx:2"}, {"name": "b", "image": "redis"}])
    );
    // Upstream puts a new element before the server-only ones (see the kubectl patch docs).
    let out = smp(
        pod(json!([{"name": "a", "image": "nginx"}])),
        json!({"spec": {"containers": [{"name": "b", "image": "redis"}]}}),
    );
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "b", "image": "redis"}, {"name": "a", "image": "nginx"}])
    );
}

#[test]
fn delete_directive_in_list() {
    let out = smp(
        pod(json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}])),
        json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}),
    );
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "b", "image": "y"}])
    );
}

#[test]
fn replace_directive_in_list_and_map() {
    let out = smp(
        pod(json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}])),
        json!({"spec": {"containers": [{"name": "c", "image": "z"}, {"$patch": "replace"}]}}),
    );
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "c", "image": "z"}])
    );
    let out = smp(
        json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
        json!({"metadata": {"labels": {"c": "3", "$patch": "replace"}}}),
    );
    assert_eq!(out["metadata"]["labels"], json!({"c": "3"}));
    let out = smp(
        json!({"metadata": {"labels": {"a": "1"}}}),
        json!({"metadata": {"labels": {"$patch": "delete"}}}),
    );
    assert_eq!(out["metadata"]["labels"], json!({}));
}

#[test]
fn null_deletes_keys() {
    let out = smp(
        json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
        json!({"metadata": {"labels": {"a": null, "c": null}}}),
    );
    assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
    // Nulls inside a newly added subtree are dropped too.
    let out = smp(
        json!({}),
        json!({"metadata": {"annotations": {"x": null, "y": "1"}}}),
    );
    assert_eq!(out["metadata"]["annotations"], json!({"y": "1"}));
}

#[test]
fn non_merge_lists_are_replaced() {
    let out = smp(
        pod(json!([{"name": "a", "args": ["1", "2"], "command": ["sh"]}])),
        json!({"spec": {"containers": [{"name": "a", "args": ["3"]}]}}),
    );
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "a", "args": ["3"], "command": ["sh"]}])
    );
}

#[test]
fn nested_env_and_ports_merge() {
    let out = smp(
        pod(
            json!([{"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                    "ports": [{"containerPort": 80, "protocol": "TCP"}]}]),
        ),
        json!({"spec": {"containers": [{"name": "a", "env": [{"name": "Y", "value": "3"}],
                                         "ports": [{"containerPort": 443}]}]}}),
    );
    let c = &out["spec"]["containers"][0];
    assert_eq!(
        c["env"],
        json!([{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}])
    );
    assert_eq!(
        c["ports"],
        json!([{"containerPort": 443}, {"containerPort": 80, "protocol": "TCP"}])
    );
}

#[test]
fn set_element_order() {
    let out = smp(
        pod(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}])),
        json!({"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}],
                        "containers": [{"name": "a", "image": "i"}]}}),
    );
    assert_eq!(
        out["spec"]["containers"],
        json!([{"name": "c"}, {"name": "a", "image": "i"}, {"name": "b"}])
    );
}

#[test]
fn set_element_order_of_primitive_list() {
    let out = smp(
        json!({"metadata": {"finalizers": ["a", "b"]}}),
        json!({"metadata": {"$setElementOrder/finalizers": ["b", "c", "a"], "finalizers": ["c"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["b", "c", "a"]));
}

#[test]
fn retain_keys_clears_other_fields() {
    let original =
        json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
    let out = apply_patch(
        &original,
        patch.to_string().as_bytes(),
        PatchType::StrategicMerge,
        deployments(),
    )
    .unwrap();
    assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    let bad = json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}});
    let err = apply_patch(
        &original,
        bad.to_string().as_bytes(),
        PatchType::StrategicMerge,
        deployments(),
    )
    .unwrap_err();
    assert_eq!(err.http_code(), 400);
    assert_eq!(err.message(), "invalid patch format of retainKeys");
}

#[test]
fn primitive_merge_lists_union_and_delete() {
    let out = smp(
        json!({"metadata": {"finalizers": ["a", "b"]}}),
        json!({"metadata": {"finalizers": ["c", "a"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["c", "a", "b"]));
    let out = smp(
        json!({"metadata": {"finalizers": ["a", "b"]}}),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
    );
    assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
}

#[test]
fn owner_references_merge_by_uid() {
    let out = smp(
        json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "x"}]}}),
        json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "y"}, {"uid": "2", "name": "z"}]}}),
    );
    assert_eq!(
        out["metadata"]["ownerReferences"],
        json!([{"uid": "1", "name": "y"}, {"uid": "2", "name": "z"}])
    );
}

#[test]
fn deployment_template_containers_merge() {
    let original = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}}});
    let patch = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "a", "image": "y"}]}}}});
    let out = apply_patch(
        &original,
        patch.to_string().as_bytes(),
        PatchType::StrategicMerge,
        deployments(),
    )
    .unwrap();
    assert_eq!(out["spec"]["replicas"], 3);
    assert_eq!(
        out["spec"]["template"]["spec"]["containers"],
        json!([{"name": "a", "image": "y"}])
    );
}

#[test]
fn kubectl_apply_style_patch_with_volumes_retain_keys() {
    let original = json!({"spec": {"template": {"spec": {
        "containers": [{"name": "a", "image": "x", "env": [{"name": "E", "value": "1"}]}, {"name": "b", "image": "y"}],
        "volumes": [{"name": "v", "emptyDir": {}}, {"name": "w", "secret": {"secretName": "s"}}]
    }}}});
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
        "containers": [{"name": "a", "$setElementOrder/env": [{"name": "E"}], "env": [{"name": "E", "value": "2"}]}],
        "$setElementOrder/volumes": [{"name": "v"}],
        "volumes": [{"$retainKeys": ["configMap", "name"], "configMap": {"name": "c"}, "name": "v"},
                    {"name": "w", "$patch": "delete"}]
    }}}});
    let out = apply_patch(
        &original,
        patch.to_string().as_bytes(),
        PatchType::StrategicMerge,
        deployments(),
    )
    .unwrap();
    let spec = &out["spec"]["template"]["spec"];
    assert_eq!(
        spec["containers"],
        json!([{"name": "b", "image": "y"}, {"name": "a", "image": "x", "env": [{"name": "E", "value": "2"}]}])
    );
    assert_eq!(
        spec["volumes"],
        json!([{"name": "v", "configMap": {"name": "c"}}])
    );
}

#[test]
fn strategic_errors() {
    let err = apply_patch(&json!({}), b"{", PatchType::StrategicMerge, pods()).unwrap_err();
    assert_eq!(err.http_code(), 400);
    assert_eq!(err.message(), "unexpected end of JSON input");
    let err = apply_patch(&json!({}), b"[]", PatchType::StrategicMerge, pods()).unwrap_err();
    assert_eq!(
        err.message(),
        "json: cannot unmarshal array into Go value of type map[string]interface {}"
    );
    let err = apply_patch(
        &pod(json!([{"name": "a"}])),
        br#"{"spec":{"containers":[{"image":"x"}]}}"#,
        PatchType::StrategicMerge,
        pods(),
    )
    .unwrap_err();
    assert_eq!(err.http_code(), 500);
}

#[test]
fn json_patch_ops_and_errors() {
    let original = json!({"metadata": {"name": "p", "labels": {"a": "1"}}});
    let out = apply_patch(
        &original,
        br#"[{"op":"replace","path":"/metadata/labels/a","value":"2"},{"op":"add","path":"/metadata/labels/b","value":"3"}]"#,
        PatchType::Json,
        pods(),
    )
    .unwrap();
    assert_eq!(out["metadata"]["labels"], json!({"a": "2", "b": "3"}));
    let err = apply_patch(
        &original,
        br#"[{"op":"test","path":"/metadata/name","value":"q"}]"#,
        PatchType::Json,
        pods(),
    )
    .unwrap_err();
    assert_eq!(err.http_code(), 422);
    assert_eq!(err.reason(), "Invalid");
    assert_eq!(
        err.message(),
        "the server rejected our request due to an error in our request"
    );
    let err = apply_patch(&original, b"{}", PatchType::Json, pods()).unwrap_err();
    assert_eq!(err.http_code(), 400);
    assert_eq!(
        err.message(),
        "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
    );
    let err = apply_patch(
        &original,
        br#"[{"op":"remove","path":"/nope"}]"#,
        PatchType::Json,
        pods(),
    )
    .unwrap_err();
    assert_eq!(err.http_code(), 422);
}

#[test]
fn merge_patch() {
    let original = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"x": [1, 2]}});
    let out = apply_patch(
        &original,
        br#"{"metadata":{"labels":{"a":null,"b":"2"}},"spec":{"x":[3]}}"#,
        PatchType::Merge,
        pods(),
    )
    .unwrap();
    assert_eq!(
        out,
        json!({"metadata": {"labels": {"b": "2"}}, "spec": {"x": [3]}})
    );
    let err = apply_patch(&original, b"nope", PatchType::Merge, pods()).unwrap_err();
    assert_eq!(
        (err.http_code(), err.message()),
        (400, "Invalid JSON Patch")
    );
}

fn flat_map() -> impl Strategy<Value = serde_json::Map<String, Value>> {
    let leaf = prop_oneof![
        "[a-z]{0,4}".prop_map(Value::String),
        any::<i32>().prop_map(|n| json!(n)),
        any::<bool>().prop_map(Value::Bool),
    ];
    let value = leaf.prop_recursive(3, 16, 4, |inner| {
        prop::collection::btree_map("[a-e]", inner, 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    });
    prop::collection::btree_map("[a-e]", value, 0..5).prop_map(|m| m.into_iter().collect())
}

/// A two-way merge patch of maps without lists: nulls for removed keys, recursion for maps.
fn two_way(a: &serde_json::Map<String, Value>, b: &serde_json::Map<String, Value>) -> Value {
    let mut patch = serde_json::Map::new();
    for k in a.keys() {
        if !b.contains_key(k) {
            patch.insert(k.clone(), Value::Null);
        }
    }
    for (k, bv) in b {
        match (a.get(k), bv) {
            (Some(Value::Object(am)), Value::Object(bm)) => {
                let sub = two_way(am, bm);
                if sub.as_object().is_some_and(|m| !m.is_empty()) {
                    patch.insert(k.clone(), sub);
                }
            }
            (Some(av), bv) if av == bv => {}
            _ => {
                patch.insert(k.clone(), bv.clone());
            }
        }
    }
    Value::Object(patch)
}

proptest! {
    #[test]
    fn empty_patch_is_identity(a in flat_map()) {
        let a = Value::Object(a);
        for ty in [PatchType::Merge, PatchType::StrategicMerge] {
            prop_assert_eq!(&apply_patch(&a, b"{}", ty, pods()).unwrap(), &a);
        }
        prop_assert_eq!(&apply_patch(&a, b"[]", PatchType::Json, pods()).unwrap(), &a);
    }

    #[test]
    fn two_way_patch_of_maps_gives_target(a in flat_map(), b in flat_map()) {
        let patch = two_way(&a, &b).to_string();
        let a = Value::Object(a);
        let b = Value::Object(b);
        for ty in [PatchType::Merge, PatchType::StrategicMerge] {
            prop_assert_eq!(&apply_patch(&a, patch.as_bytes(), ty, pods()).unwrap(), &b);
        }
    }

    #[test]
    fn primitive_merge_list_is_union(a in prop::collection::vec("[a-d]", 0..5), b in prop::collection::vec("[a-d]", 0..5)) {
        let original = json!({"metadata": {"finalizers": a}});
        let out = smp(original, json!({"metadata": {"finalizers": b}}));
        let got = out["metadata"]["finalizers"].as_array().cloned().unwrap_or_default();
        for v in a.iter().chain(b.iter()) {
            prop_assert!(got.contains(&json!(v)));
        }
        let mut dedup = got.clone();
        dedup.dedup();
        prop_assert!(got.len() <= a.len() + b.len());
    }
}
