//! Decoding: normalization, unknown fields, errors, and lossless round-trips.
#![allow(clippy::unwrap_used)]

use rkube_api::RESOURCES;
use rkube_api::registry::find_kind;
use rkube_objects::{DecodeError, decode};
use serde_json::json;

fn info(group: &str, version: &str, kind: &str) -> &'static rkube_api::ResourceInfo {
    find_kind(group, version, kind).unwrap()
}

#[test]
fn every_registered_resource_decodes() {
    for r in RESOURCES {
        let out = decode(r, &json!({"metadata": {"name": "x"}}))
            .unwrap_or_else(|e| panic!("{}/{} {}: {e}", r.group, r.version, r.kind));
        assert_eq!(out.value["apiVersion"], r.api_version(), "{}", r.kind);
        assert_eq!(out.value["kind"], r.kind);
        assert_eq!(out.value["metadata"]["name"], "x");
        assert!(out.unknown_fields.is_empty());
    }
}

#[test]
fn unknown_fields_are_dropped_and_reported() {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "bogus": 1},
        "spec": {
            "foo": {"a": 1},
            "nullish": null,
            "containers": [{"name": "c", "image": "nginx", "imagePullPolicyy": "Always"}],
        },
    });
    let out = decode(info("", "v1", "Pod"), &pod).unwrap();
    assert_eq!(
        out.unknown_fields,
        vec![
            "metadata.bogus".to_string(),
            "spec.containers[0].imagePullPolicyy".to_string(),
            "spec.foo".to_string(),
        ]
    );
    assert!(out.value["spec"].get("foo").is_none());
    assert_eq!(out.value["spec"]["containers"][0]["image"], "nginx");
}

#[test]
fn type_errors_read_like_upstream() {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": "x"}});
    let err = decode(info("", "v1", "Pod"), &pod).unwrap_err();
    let DecodeError::Invalid { path, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(path, "spec.containers");
    assert_eq!(
        err.to_string(),
        "Pod in version \"v1\" cannot be handled as a Pod: spec.containers: invalid type: string \"x\", expected a sequence"
    );
    let dep = json!({"spec": {"replicas": "3"}});
    let err = decode(info("apps", "v1", "Deployment"), &dep).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Deployment in version \"v1\" cannot be handled as a Deployment: spec.replicas: invalid type: string \"3\"")
    );
    let err = decode(info("", "v1", "Pod"), &json!([1])).unwrap_err();
    assert!(err.to_string().contains("cannot be handled as a Pod"));
}

#[test]
fn valid_objects_round_trip_without_loss() {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "p", "namespace": "default", "uid": "u-1", "resourceVersion": "5",
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "labels": {}, "annotations": {"a": "b"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u-2", "controller": true}],
            "managedFields": [{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
                               "time": "2024-05-01T10:00:00Z", "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}}}}}}],
        },
        "spec": {
            "containers": [{
                "name": "c", "image": "nginx:1.25",
                "ports": [{"containerPort": 80, "name": "http"}],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1"}},
                "readinessProbe": {"httpGet": {"port": "http", "path": "/"}},
                "livenessProbe": {"tcpSocket": {"port": 8080}},
                "securityContext": {},
            }],
            "volumes": [{"name": "v", "emptyDir": {}}, {"name": "s", "secret": {"secretName": "x", "defaultMode": 420}}],
            "nodeSelector": {},
        },
        "status": {"phase": "Running", "startTime": "2024-05-01T10:00:01Z",
                   "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": null}]},
    });
    let out = decode(info("", "v1", "Pod"), &pod).unwrap();
    assert!(out.unknown_fields.is_empty(), "{:?}", out.unknown_fields);
    let mut expected = pod.clone();
    // null members mean "unset" and are dropped, as Go's decoder leaves them at zero.
    expected["status"]["conditions"][0]
        .as_object_mut()
        .unwrap()
        .remove("lastProbeTime");
    assert_eq!(out.value, expected);
}

#[test]
fn services_times_and_raw_data_round_trip() {
    let svc = json!({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80, "targetPort": "web"}, {"port": 81, "targetPort": 8081}],
                 "selector": {"app": "a"}},
    });
    assert_eq!(decode(info("", "v1", "Service"), &svc).unwrap().value, svc);

    let ev = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
        "eventTime": "2024-05-01T10:00:00.123456Z", "note": "n", "regarding": {"kind": "Pod", "name": "p"},
        "deprecatedFirstTimestamp": "2024-05-01T10:00:00Z",
    });
    assert_eq!(
        decode(info("events.k8s.io", "v1", "Event"), &ev)
            .unwrap()
            .value,
        ev
    );

    let cr = json!({
        "apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "r"},
        "revision": 2, "data": {"spec": {"template": {"x": null, "$patch": "replace"}}},
    });
    assert_eq!(
        decode(info("apps", "v1", "ControllerRevision"), &cr)
            .unwrap()
            .value,
        cr
    );

    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
        "spec": {"holderIdentity": "n", "leaseDurationSeconds": 40, "renewTime": "2024-05-01T10:00:00.000000Z"},
    });
    assert_eq!(
        decode(info("coordination.k8s.io", "v1", "Lease"), &lease)
            .unwrap()
            .value,
        lease
    );
}

#[test]
fn kind_and_api_version_come_from_the_resource() {
    let out = decode(
        info("autoscaling", "v1", "HorizontalPodAutoscaler"),
        &json!({
            "apiVersion": "autoscaling/v2", "kind": "Other",
            "spec": {"maxReplicas": 3, "targetCPUUtilizationPercentage": 50,
                     "scaleTargetRef": {"kind": "Deployment", "name": "d"}},
        }),
    )
    .unwrap();
    assert_eq!(out.value["apiVersion"], "autoscaling/v1");
    assert_eq!(out.value["kind"], "HorizontalPodAutoscaler");
    assert_eq!(out.value["spec"]["targetCPUUtilizationPercentage"], 50);
    // v2-only fields are unknown in v1.
    let out = decode(info("autoscaling", "v1", "HorizontalPodAutoscaler"), &json!({
        "spec": {"maxReplicas": 3, "metrics": [], "scaleTargetRef": {"kind": "Deployment", "name": "d"}},
    }))
    .unwrap();
    assert_eq!(out.unknown_fields, vec!["spec.metrics".to_string()]);
}

#[test]
fn numeric_quantities_are_accepted() {
    let pod = json!({"spec": {"containers": [{"name": "c", "image": "i",
        "resources": {"limits": {"cpu": 1, "memory": 1.5}}}]}});
    let out = decode(info("", "v1", "Pod"), &pod).unwrap();
    assert_eq!(
        out.value["spec"]["containers"][0]["resources"]["limits"]["cpu"],
        "1"
    );
    assert_eq!(
        out.value["spec"]["containers"][0]["resources"]["limits"]["memory"],
        "1.5"
    );
}
