//! Special JSON forms (times, int-or-string, bytes, embedded JSON) and the empty-value rules.
#![allow(clippy::unwrap_used)]

use rkube_protobuf::{MAGIC, ProtobufError, decode_to_json, encode_from_json, message_name};
use serde_json::{Value, json};

fn round_trip(obj: &Value) -> Value {
    decode_to_json(&encode_from_json(obj).unwrap()).unwrap()
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn len_field(out: &mut Vec<u8>, tag: u8, data: &[u8]) {
    varint(out, u64::from(tag) << 3 | 2);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// A `k8s\0` envelope around hand-written raw bytes.
fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut tm = Vec::new();
    len_field(&mut tm, 1, api_version.as_bytes());
    len_field(&mut tm, 2, kind.as_bytes());
    let mut out = MAGIC.to_vec();
    len_field(&mut out, 1, &tm);
    len_field(&mut out, 2, raw);
    out
}

#[test]
fn times_and_microtimes() {
    let obj = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "e", "namespace": "default", "creationTimestamp": "2024-01-02T03:04:05Z"},
        "involvedObject": {"kind": "Pod", "name": "p"},
        "firstTimestamp": "2024-01-02T03:04:05Z",
        "eventTime": "2024-01-02T03:04:05.123456Z",
        "count": 3
    });
    assert_eq!(round_trip(&obj), obj);
    // Time drops sub-second precision, as Go's JSON does; offsets become UTC.
    let obj = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "n", "creationTimestamp": "2024-01-02T05:04:05.9+02:00"}});
    assert_eq!(
        round_trip(&obj)["metadata"]["creationTimestamp"],
        json!("2024-01-02T03:04:05Z")
    );
}

#[test]
fn time_from_hand_written_bytes() {
    // ObjectMeta { name: "n", creationTimestamp: { seconds: 1704164645 } }
    let mut time = Vec::new();
    time.push(1 << 3);
    varint(&mut time, 1_704_164_645);
    let mut meta = Vec::new();
    len_field(&mut meta, 1, b"n");
    len_field(&mut meta, 8, &time);
    len_field(&mut meta, 9, &[]); // a zero Time, as Go writes it: left out
    let mut ns = Vec::new();
    len_field(&mut ns, 1, &meta);
    let got = decode_to_json(&envelope("v1", "Namespace", &ns)).unwrap();
    assert_eq!(
        got,
        json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "n", "creationTimestamp": "2024-01-02T03:04:05Z"}})
    );
}

#[test]
fn int_or_string_both_ways() {
    for target in [json!(8080), json!("http"), json!(0)] {
        let obj = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80, "targetPort": target}]}});
        assert_eq!(round_trip(&obj), obj);
    }
    let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}}});
    assert_eq!(round_trip(&obj), obj);
}

#[test]
fn secret_bytes_and_string_data() {
    let obj = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque",
        "data": {"bin": "AAEC/w==", "empty": ""}, "immutable": false});
    assert_eq!(round_trip(&obj), obj);
}

#[test]
fn pointer_zeros_survive_and_noise_zeros_do_not() {
    let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "generation": 0},
        "spec": {"replicas": 0, "template": {"spec": {
            "automountServiceAccountToken": false, "hostNetwork": false,
            "containers": [{"name": "c", "image": "i", "stdin": false, "tty": false,
                "ports": [{"containerPort": 80, "hostPort": 0}]}]}}}});
    let got = round_trip(&obj);
    assert_eq!(
        got,
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replicas": 0, "template": {"spec": {"automountServiceAccountToken": false,
                "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]}}}})
    );
}

#[test]
fn empty_strings_dropped_except_pvc_storage_class() {
    let obj = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "c", "generateName": ""},
        "spec": {"storageClassName": "", "volumeName": "",
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
    assert_eq!(
        round_trip(&obj),
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"},
            "spec": {"storageClassName": "", "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}}}})
    );
}

#[test]
fn inline_fields_sit_in_the_parent() {
    let obj = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {
            "volumes": [{"name": "v", "configMap": {"name": "cm", "defaultMode": 420}}],
            "containers": [{"name": "c", "image": "i",
                "env": [{"name": "E", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k", "optional": true}}}],
                "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5},
                "volumeMounts": [{"name": "v", "mountPath": "/v", "readOnly": true}],
                "securityContext": {"runAsUser": 0, "privileged": false}}],
            "tolerations": [{"operator": "Exists", "tolerationSeconds": 30}]
        },
        "status": {"podIPs": [{"ip": "10.0.0.1"}], "hostIP": "10.1.0.1"}});
    assert_eq!(round_trip(&obj), obj);
}

#[test]
fn embedded_json_and_durations() {
    let obj = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "n", "managedFields": [{"manager": "kubectl", "operation": "Update",
            "apiVersion": "v1", "time": "2024-01-02T03:04:05Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {".": {}}}}}]}});
    assert_eq!(round_trip(&obj), obj);
    let obj = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "r"},
        "revision": 3, "data": {"spec": {"template": {"x": [1, 2]}}}});
    assert_eq!(round_trip(&obj), obj);
}

#[test]
fn status_and_delete_options_from_any_group() {
    let obj = json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
        "message": "nope", "reason": "NotFound", "code": 404,
        "details": {"name": "x", "kind": "pods", "causes": [{"reason": "FieldValueInvalid", "field": "spec"}]}});
    assert_eq!(round_trip(&obj), obj);
    let obj = json!({"apiVersion": "meta.k8s.io/v1", "kind": "DeleteOptions",
        "propagationPolicy": "Background", "gracePeriodSeconds": 0, "dryRun": ["All"]});
    assert_eq!(round_trip(&obj), obj);
    assert_eq!(
        message_name("apps/v1", "DeleteOptions"),
        Some("k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions")
    );
}

#[test]
fn kinds_map_to_their_messages() {
    let cases = [
        ("v1", "Pod", "k8s.io.api.core.v1.Pod"),
        (
            "v1",
            "PersistentVolumeClaim",
            "k8s.io.api.core.v1.PersistentVolumeClaim",
        ),
        (
            "apps/v1",
            "ControllerRevision",
            "k8s.io.api.apps.v1.ControllerRevision",
        ),
        (
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            "k8s.io.api.autoscaling.v2.HorizontalPodAutoscaler",
        ),
        ("autoscaling/v1", "Scale", "k8s.io.api.autoscaling.v1.Scale"),
        (
            "coordination.k8s.io/v1",
            "Lease",
            "k8s.io.api.coordination.v1.Lease",
        ),
        (
            "discovery.k8s.io/v1",
            "EndpointSlice",
            "k8s.io.api.discovery.v1.EndpointSlice",
        ),
        ("events.k8s.io/v1", "Event", "k8s.io.api.events.v1.Event"),
        (
            "networking.k8s.io/v1",
            "IngressClass",
            "k8s.io.api.networking.v1.IngressClass",
        ),
        ("policy/v1", "Eviction", "k8s.io.api.policy.v1.Eviction"),
        (
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            "k8s.io.api.rbac.v1.ClusterRole",
        ),
        (
            "scheduling.k8s.io/v1",
            "PriorityClass",
            "k8s.io.api.scheduling.v1.PriorityClass",
        ),
        (
            "storage.k8s.io/v1",
            "StorageClass",
            "k8s.io.api.storage.v1.StorageClass",
        ),
        (
            "storage.k8s.io/v1",
            "CSIDriver",
            "k8s.io.api.storage.v1.CSIDriver",
        ),
        (
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
        ),
    ];
    for (api_version, kind, want) in cases {
        assert_eq!(
            message_name(api_version, kind),
            Some(want),
            "{api_version} {kind}"
        );
    }
    assert!(message_name("example.com/v1", "Widget").is_none());
}

#[test]
fn breadth_round_trips() {
    let objs = [
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
            "spec": {"podCIDR": "10.0.0.0/24", "taints": [{"key": "k", "effect": "NoSchedule"}]},
            "status": {"capacity": {"cpu": "2"}, "addresses": [{"type": "InternalIP", "address": "1.2.3.4"}],
                "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "2024-01-02T03:04:05Z"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {"kubeletVersion": "v1.33.0", "machineID": "m", "systemUUID": "u", "bootID": "b"}}}),
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
            "spec": {"schedule": "* * * * *", "suspend": false, "jobTemplate": {"spec": {"backoffLimit": 0,
                "template": {"spec": {"containers": [{"name": "c", "image": "i"}], "restartPolicy": "Never"}}}}}}),
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
            "spec": {"holderIdentity": "h", "leaseDurationSeconds": 15, "renewTime": "2024-01-02T03:04:05.000001Z"}}),
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "e"},
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": true}}],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}),
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "d", "apiVersion": "apps/v1"},
                "minReplicas": 1, "maxReplicas": 5,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80}}}]}}),
        json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "d"},
            "spec": {"replicas": 0}, "status": {"replicas": 2, "selector": "app=d"}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "np"},
            "spec": {"podSelector": {"matchExpressions": [{"key": "a", "operator": "In", "values": ["b"]}]},
                "ingress": [{"ports": [{"port": 80, "endPort": 90}]}], "policyTypes": ["Ingress"]}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}}),
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "sc"},
            "provisioner": "p", "parameters": {"a": "b"}, "reclaimPolicy": "Delete", "allowVolumeExpansion": true}),
        json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p", "namespace": "d"},
            "deleteOptions": {"gracePeriodSeconds": 30}}),
        json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l"},
            "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m"}, "max": {"memory": "1Gi"}}]}}),
        json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv"},
            "spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/tmp", "type": ""},
                "accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain",
                "awsElasticBlockStore": {"volumeID": "vol-1"}}}),
        json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n"}}),
        json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
            "eventTime": "2024-01-02T03:04:05.000000Z", "reason": "R", "action": "A", "type": "Normal",
            "regarding": {"kind": "Pod", "name": "p"}, "series": {"count": 2, "lastObservedTime": "2024-01-02T03:04:06.500000Z"}}),
    ];
    for obj in objs {
        let mut want = obj.clone();
        // `hostPath.type: ""` is an empty string: left out.
        if want["kind"] == "PersistentVolume" {
            want["spec"]["hostPath"]
                .as_object_mut()
                .unwrap()
                .remove("type");
        }
        assert_eq!(round_trip(&obj), want, "{}", obj["kind"]);
    }
}

#[test]
fn unknown_fields_packed_ints_and_negative_numbers() {
    // ContainerPort { containerPort: -1 (10-byte varint), field 99 (unknown) }
    let mut port = Vec::new();
    port.push(3 << 3);
    varint(&mut port, u64::MAX);
    port.extend_from_slice(&[0x98, 0x06, 0x05]); // field 99, varint 5: skipped
    len_field(&mut port, 20, b"ignored"); // field 20, bytes: skipped
    let mut container = Vec::new();
    len_field(&mut container, 1, b"c");
    len_field(&mut container, 6, &port);
    let mut spec = Vec::new();
    len_field(&mut spec, 2, &container);
    let mut pod = Vec::new();
    len_field(&mut pod, 2, &spec);
    let got = decode_to_json(&envelope("v1", "Pod", &pod)).unwrap();
    assert_eq!(
        got["spec"]["containers"][0],
        json!({"name": "c", "ports": [{"containerPort": -1}]})
    );

    // PodSecurityContext.supplementalGroups, packed (proto3 style) and unpacked (Go's style).
    let mut psc = Vec::new();
    len_field(&mut psc, 4, &[1, 2]);
    psc.extend_from_slice(&[4 << 3, 3]);
    let mut spec = Vec::new();
    len_field(&mut spec, 14, &psc);
    let mut pod = Vec::new();
    len_field(&mut pod, 2, &spec);
    let got = decode_to_json(&envelope("v1", "Pod", &pod)).unwrap();
    assert_eq!(
        got["spec"]["securityContext"],
        json!({"supplementalGroups": [1, 2, 3]})
    );
}

#[test]
fn errors() {
    assert!(matches!(
        decode_to_json(b"{}"),
        Err(ProtobufError::MissingMagic)
    ));
    assert!(matches!(
        decode_to_json(b"k8s\0\x0a\x05"),
        Err(ProtobufError::Truncated)
    ));
    assert!(matches!(
        decode_to_json(&envelope("example.com/v1", "Widget", &[])),
        Err(ProtobufError::UnknownKind { .. })
    ));
    assert!(matches!(
        decode_to_json(&envelope("v1", "", &[])),
        Err(ProtobufError::MissingKind)
    ));
    // Namespace.metadata sent as a varint.
    assert!(matches!(
        decode_to_json(&envelope("v1", "Namespace", &[0x08, 0x01])),
        Err(ProtobufError::WireType { .. })
    ));
    let bad = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
        "spec": {"ports": [{"port": "eighty"}]}});
    assert!(matches!(
        encode_from_json(&bad),
        Err(ProtobufError::JsonType { .. })
    ));
    let bad = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"creationTimestamp": "yesterday"}});
    assert!(matches!(
        encode_from_json(&bad),
        Err(ProtobufError::Time { .. })
    ));
    // Deeply nested embedded protobuf envelopes stop instead of overflowing the stack.
    let mut deep = envelope("v1", "Namespace", &[]);
    for _ in 0..200 {
        let mut ext = Vec::new();
        len_field(&mut ext, 1, &deep);
        let mut revision = Vec::new();
        len_field(&mut revision, 2, &ext);
        deep = envelope("apps/v1", "ControllerRevision", &revision);
    }
    assert!(matches!(decode_to_json(&deep), Err(ProtobufError::TooDeep)));
}
