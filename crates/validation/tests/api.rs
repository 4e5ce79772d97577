//! End-to-end checks of the public API against the real resource registry.

#![allow(clippy::unwrap_used)]

use rkube_api::registry::find_kind;
use rkube_validation::{validate_create, validate_status_update, validate_update};
use serde_json::{Value, json};

fn msgs(group: &str, kind: &str, obj: &Value) -> Vec<String> {
    let version = match group {
        "" | "apps" | "batch" | "rbac.authorization.k8s.io" | "networking.k8s.io" | "policy" => {
            "v1"
        }
        "autoscaling" => "v2",
        _ => "v1",
    };
    let info = find_kind(group, version, kind).unwrap();
    validate_create(info, obj)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn pod_spec() -> Value {
    json!({"containers": [{"name": "web", "image": "nginx", "imagePullPolicy": "Always",
        "terminationMessagePolicy": "File", "terminationMessagePath": "/dev/termination-log",
        "ports": [{"containerPort": 80, "protocol": "TCP"}]}],
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
        "terminationGracePeriodSeconds": 30, "securityContext": {}})
}

#[test]
fn pod_names() {
    let p = json!({"metadata": {"name": "Bad_Name", "namespace": "default"}, "spec": pod_spec()});
    assert_eq!(
        msgs("", "Pod", &p),
        vec![
            "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ]
    );
    let p = json!({"metadata": {"name": "ok", "namespace": "default"}, "spec": pod_spec()});
    assert!(msgs("", "Pod", &p).is_empty());
}

#[test]
fn kinds_name_rules() {
    let svc = json!({"metadata": {"name": "1web", "namespace": "default"},
        "spec": {"type": "ClusterIP", "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}]}});
    assert_eq!(msgs("", "Service", &svc).len(), 1);
    let ns = json!({"metadata": {"name": "a.b"}});
    assert_eq!(
        msgs("", "Namespace", &ns),
        vec!["metadata.name: Invalid value: \"a.b\": must not contain dots"]
    );
    let role = json!({"metadata": {"name": "system:controller:x", "namespace": "default"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]});
    assert!(msgs("rbac.authorization.k8s.io", "Role", &role).is_empty());
    let cm = json!({"metadata": {"name": "cfg", "namespace": "default"}, "data": {"k": "v"}});
    assert!(msgs("", "ConfigMap", &cm).is_empty());
}

#[test]
fn deployment_selector_mismatch_and_update() {
    let info = find_kind("apps", "v1", "Deployment").unwrap();
    let d = json!({"metadata": {"name": "d", "namespace": "default", "resourceVersion": "1"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "y"}}, "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        "template": {"metadata": {"labels": {"app": "x"}}, "spec": pod_spec()}}});
    let e: Vec<String> = validate_create(info, &d)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        e,
        vec![
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`"
        ]
    );
    let mut ok = d.clone();
    ok["spec"]["template"]["metadata"]["labels"] = json!({"app": "y"});
    assert!(validate_create(info, &ok).is_empty());
    let mut scaled = ok.clone();
    scaled["spec"]["replicas"] = json!(3);
    assert!(validate_update(info, &scaled, &ok).is_empty());
    let mut status = ok.clone();
    status["status"] = json!({"replicas": 1, "readyReplicas": 2});
    assert_eq!(validate_status_update(info, &status, &ok).len(), 1);
}

#[test]
fn pod_update_rules() {
    let info = find_kind("", "v1", "Pod").unwrap();
    let old = json!({"metadata": {"name": "p", "namespace": "default", "resourceVersion": "1"}, "spec": pod_spec()});
    let mut new = old.clone();
    new["spec"]["containers"][0]["image"] = json!("nginx:2");
    assert!(validate_update(info, &new, &old).is_empty());
    new["spec"]["restartPolicy"] = json!("Never");
    let e = validate_update(info, &new, &old);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].field, "spec");
}

#[test]
fn unknown_kind_meta_only() {
    let info = find_kind("storage.k8s.io", "v1", "StorageClass").unwrap();
    let sc = json!({"metadata": {"name": "fast"}, "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer"});
    assert!(validate_create(info, &sc).is_empty());
}

#[test]
fn admission_generated_pod_is_valid() {
    let mut spec = pod_spec();
    spec["volumes"] = json!([{"name": "kube-api-access-x1", "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}]);
    spec["containers"][0]["volumeMounts"] = json!([{"name": "kube-api-access-x1", "readOnly": true,
        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]);
    spec["containers"][0]["resources"] = json!({"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "0.25", "memory": "64Mi"}});
    spec["containers"][0]["livenessProbe"] = json!({"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"},
        "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3});
    spec["tolerations"] = json!([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]);
    spec["serviceAccountName"] = json!("default");
    spec["enableServiceLinks"] = json!(true);
    spec["preemptionPolicy"] = json!("PreemptLowerPriority");
    spec["priority"] = json!(0);
    let p = json!({"metadata": {"name": "web-7d4b9c8f5-abcde", "generateName": "web-7d4b9c8f5-", "namespace": "default",
        "labels": {"app": "web", "pod-template-hash": "7d4b9c8f5"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c8f5", "uid": "u-1",
            "controller": true, "blockOwnerDeletion": true}]}, "spec": spec});
    assert_eq!(msgs("", "Pod", &p), Vec::<String>::new());
}

#[test]
fn jobs_and_cron_jobs() {
    let job = json!({"metadata": {"name": "pi", "namespace": "default"}, "spec": {"parallelism": 1, "completions": 1,
        "backoffLimit": 6, "completionMode": "NonIndexed", "suspend": false, "manualSelector": false,
        "podReplacementPolicy": "TerminatingOrFailed",
        "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}},
        "template": {"metadata": {"labels": {"batch.kubernetes.io/controller-uid": "abc", "job-name": "pi"}},
            "spec": {"containers": [{"name": "pi", "image": "perl", "terminationMessagePolicy": "File", "imagePullPolicy": "Always"}],
            "restartPolicy": "Never", "dnsPolicy": "ClusterFirst"}}}});
    assert_eq!(msgs("batch", "Job", &job), Vec::<String>::new());
    let cj = json!({"metadata": {"name": "hello", "namespace": "default"}, "spec": {"schedule": "*/1 * * * *",
        "concurrencyPolicy": "Allow", "suspend": false, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
        "jobTemplate": {"metadata": {}, "spec": {"backoffLimit": 6, "template": {"spec": {
            "containers": [{"name": "hello", "image": "busybox"}], "restartPolicy": "OnFailure", "dnsPolicy": "ClusterFirst"}}}}}});
    assert_eq!(msgs("batch", "CronJob", &cj), Vec::<String>::new());
}
