//! Decodes protobuf bodies captured from kubectl and checks their JSON form.
#![allow(clippy::unwrap_used)]

use rkube_protobuf::{decode_to_json, encode_from_json};
use serde_json::{Value, json};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap()
}

/// Decodes a captured body, compares it, and checks encode→decode gives it back.
fn check(name: &str, expected: Value) {
    let decoded = decode_to_json(&fixture(name)).unwrap();
    assert_eq!(decoded, expected, "{name}");
    let again = decode_to_json(&encode_from_json(&decoded).unwrap()).unwrap();
    assert_eq!(again, expected, "{name} re-encoded");
}

#[test]
fn create_namespace() {
    check(
        "namespace.pb",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}, "spec": {}, "status": {}}),
    );
}

#[test]
fn create_configmap() {
    check(
        "configmap.pb",
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm1"}, "data": {"a": "1", "b": "two"}}),
    );
}

#[test]
fn create_secret_generic() {
    check(
        "secret.pb",
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s1"}, "data": {"password": "aHVudGVyMg=="}}),
    );
}

#[test]
fn create_deployment() {
    check(
        "deployment.pb",
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]}
                }
            },
            "status": {}
        }),
    );
}

#[test]
fn create_service_clusterip_and_nodeport() {
    check(
        "service_clusterip.pb",
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "svc1", "labels": {"app": "svc1"}},
            "spec": {
                "ports": [{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}],
                "selector": {"app": "svc1"},
                "type": "ClusterIP"
            },
            "status": {"loadBalancer": {}}
        }),
    );
    let nodeport = decode_to_json(&fixture("service_nodeport.pb")).unwrap();
    assert_eq!(nodeport["spec"]["ports"][0]["targetPort"], json!("http"));
    assert!(nodeport["spec"]["ports"][0].get("nodePort").is_none());
}

#[test]
fn create_job_and_cronjob() {
    let job = decode_to_json(&fixture("job.pb")).unwrap();
    assert_eq!(
        job["spec"]["template"]["spec"],
        json!({"containers": [{"name": "j1", "image": "busybox", "command": ["echo", "hi"], "resources": {}}], "restartPolicy": "Never"})
    );
    let cronjob = decode_to_json(&fixture("cronjob.pb")).unwrap();
    assert_eq!(cronjob["spec"]["schedule"], json!("*/1 * * * *"));
    assert_eq!(
        cronjob["spec"]["jobTemplate"]["metadata"]["name"],
        json!("cj1")
    );
}

#[test]
fn create_rbac_bindings() {
    check(
        "rolebinding.pb",
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "rb1"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r1"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}]
        }),
    );
    let crb = decode_to_json(&fixture("clusterrolebinding.pb")).unwrap();
    assert_eq!(crb["roleRef"]["kind"], json!("ClusterRole"));
}

#[test]
fn create_ingress_pdb_priorityclass_quota() {
    let ing = decode_to_json(&fixture("ingress.pb")).unwrap();
    assert_eq!(
        ing["spec"]["rules"][0],
        json!({"host": "foo.com", "http": {"paths": [{"path": "/bar", "pathType": "Exact",
            "backend": {"service": {"name": "svc1", "port": {"number": 8080}}}}]}})
    );
    let pdb = decode_to_json(&fixture("pdb_min_available.pb")).unwrap();
    assert_eq!(pdb["spec"]["minAvailable"], json!(1));
    let pdb = decode_to_json(&fixture("pdb_max_unavailable.pb")).unwrap();
    assert_eq!(pdb["spec"]["maxUnavailable"], json!("50%"));
    let pc = decode_to_json(&fixture("priorityclass.pb")).unwrap();
    assert_eq!(pc["value"], json!(1000));
    assert!(pc.get("globalDefault").is_none());
    let quota = decode_to_json(&fixture("resourcequota.pb")).unwrap();
    assert_eq!(quota["spec"]["hard"], json!({"cpu": "1", "pods": "2"}));
}

#[test]
fn create_serviceaccount_and_token() {
    check(
        "serviceaccount.pb",
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa1"}}),
    );
    let token = decode_to_json(&fixture("tokenrequest.pb")).unwrap();
    assert_eq!(token["kind"], json!("TokenRequest"));
    assert_eq!(token["apiVersion"], json!("authentication.k8s.io/v1"));
}

/// kubectl 1.32 sends these as JSON; their protobuf form must carry the same object.
#[test]
fn run_and_expose_bodies_round_trip_through_protobuf() {
    for name in [
        "run_pod.json",
        "run_pod_command.json",
        "expose_service.json",
    ] {
        let mut obj: Value = serde_json::from_slice(&fixture(name)).unwrap();
        let body = encode_from_json(&obj).unwrap();
        // Go's JSON writes a zero Time as null; the decoder leaves it out.
        obj["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("creationTimestamp");
        assert_eq!(decode_to_json(&body).unwrap(), obj, "{name}");
    }
}
