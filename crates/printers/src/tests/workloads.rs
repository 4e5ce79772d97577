//! Tests for workload controllers and batch kinds.

use serde_json::{Value, json};

use super::{ago, headers, row, text};

fn template() -> Value {
    json!({"metadata": {"labels": {"app": "nginx"}},
           "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}, {"name": "log", "image": "busybox"}]}})
}

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": ago(7 * 60 + 3)})
}

#[test]
fn deployments() {
    assert_eq!(
        headers("apps", "v1", "Deployment", false),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    let d = json!({"metadata": meta("web"), "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "nginx"}}, "template": template()},
        "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
    assert_eq!(
        row("apps", "v1", "Deployment", &d),
        [
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("7m3s"),
            json!("nginx,log"),
            json!("nginx:1.25,busybox"),
            json!("app=nginx")
        ]
    );
    let fresh =
        json!({"metadata": meta("new"), "spec": {"selector": {"matchLabels": {"app": "x"}}}});
    assert_eq!(
        text(&row("apps", "v1", "Deployment", &fresh))[1..4],
        ["0/1", "0", "0"]
    );
}

#[test]
fn replica_sets_and_controllers() {
    assert_eq!(
        headers("apps", "v1", "ReplicaSet", true),
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    let rs = json!({"metadata": meta("web-5d8f"), "spec": {"replicas": 2, "template": template(),
        "selector": {"matchLabels": {"app": "nginx", "pod-template-hash": "5d8f"}}},
        "status": {"replicas": 2, "readyReplicas": 1}});
    assert_eq!(
        row("apps", "v1", "ReplicaSet", &rs),
        [
            json!("web-5d8f"),
            json!(2),
            json!(2),
            json!(1),
            json!("7m3s"),
            json!("nginx,log"),
            json!("nginx:1.25,busybox"),
            json!("app=nginx,pod-template-hash=5d8f")
        ]
    );
    let rc = json!({"metadata": meta("rc"), "spec": {"replicas": 1, "selector": {"app": "nginx"}, "template": template()}, "status": {"replicas": 1}});
    assert_eq!(
        text(&row("", "v1", "ReplicationController", &rc)),
        [
            "rc",
            "1",
            "1",
            "0",
            "7m3s",
            "nginx,log",
            "nginx:1.25,busybox",
            "app=nginx"
        ]
    );
}

#[test]
fn stateful_and_daemon_sets() {
    assert_eq!(
        headers("apps", "v1", "StatefulSet", true),
        ["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]
    );
    let sts = json!({"metadata": meta("db"), "spec": {"replicas": 3, "template": template()}, "status": {"readyReplicas": 3}});
    assert_eq!(
        text(&row("apps", "v1", "StatefulSet", &sts)),
        ["db", "3/3", "7m3s", "nginx,log", "nginx:1.25,busybox"]
    );
    assert_eq!(
        headers("apps", "v1", "DaemonSet", false),
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "NODE SELECTOR",
            "AGE"
        ]
    );
    let ds = json!({"metadata": meta("proxy"), "spec": {"selector": {"matchLabels": {"k8s-app": "proxy"}},
        "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "p", "image": "proxy:1"}]}}},
        "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1, "updatedNumberScheduled": 2, "numberAvailable": 1}});
    assert_eq!(
        text(&row("apps", "v1", "DaemonSet", &ds)),
        [
            "proxy",
            "2",
            "2",
            "1",
            "2",
            "1",
            "kubernetes.io/os=linux",
            "7m3s",
            "p",
            "proxy:1",
            "k8s-app=proxy"
        ]
    );
}

#[test]
fn controller_revisions() {
    let cr = json!({"metadata": {"name": "proxy-6b7", "creationTimestamp": ago(60),
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "proxy", "controller": true}]}, "revision": 2});
    assert_eq!(
        row("apps", "v1", "ControllerRevision", &cr),
        [
            json!("proxy-6b7"),
            json!("daemonset.apps/proxy"),
            json!(2),
            json!("60s")
        ]
    );
    let orphan = json!({"metadata": {"name": "x"}, "revision": 1});
    assert_eq!(
        text(&row("apps", "v1", "ControllerRevision", &orphan))[1],
        "<none>"
    );
}

fn job(spec: Value, status: Value) -> Value {
    json!({"metadata": meta("pi"), "spec": spec, "status": status})
}

#[test]
fn jobs() {
    assert_eq!(
        headers("batch", "v1", "Job", false),
        ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    );
    let spec = json!({"completions": 1, "parallelism": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}},
        "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}});
    let running = job(spec.clone(), json!({"startTime": ago(42), "active": 1}));
    assert_eq!(
        text(&row("batch", "v1", "Job", &running)),
        [
            "pi",
            "Running",
            "0/1",
            "42s",
            "7m3s",
            "pi",
            "perl",
            "batch.kubernetes.io/controller-uid=abc"
        ]
    );
    let done = job(
        spec.clone(),
        json!({"startTime": ago(400), "completionTime": ago(380), "succeeded": 1,
        "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}),
    );
    assert_eq!(
        text(&row("batch", "v1", "Job", &done))[1..4],
        ["Complete", "1/1", "20s"]
    );
    let failed = job(
        spec.clone(),
        json!({"conditions": [{"type": "FailureTarget", "status": "True"}, {"type": "Failed", "status": "True"}]}),
    );
    assert_eq!(
        text(&row("batch", "v1", "Job", &failed))[1..4],
        ["Failed", "0/1", ""]
    );
    let suspended = job(
        spec.clone(),
        json!({"conditions": [{"type": "Suspended", "status": "True"}]}),
    );
    assert_eq!(text(&row("batch", "v1", "Job", &suspended))[1], "Suspended");
    let target = job(
        spec,
        json!({"conditions": [{"type": "FailureTarget", "status": "True"}]}),
    );
    assert_eq!(
        text(&row("batch", "v1", "Job", &target))[1],
        "FailureTarget"
    );
    let work_queue = job(json!({"parallelism": 3}), json!({"succeeded": 1}));
    assert_eq!(text(&row("batch", "v1", "Job", &work_queue))[2], "1/1 of 3");
    let mut deleting = job(json!({}), json!({}));
    deleting["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(
        text(&row("batch", "v1", "Job", &deleting))[1..3],
        ["Terminating", "0/1"]
    );
}

#[test]
fn cron_jobs() {
    assert_eq!(
        headers("batch", "v1", "CronJob", false),
        [
            "NAME",
            "SCHEDULE",
            "TIMEZONE",
            "SUSPEND",
            "ACTIVE",
            "LAST SCHEDULE",
            "AGE"
        ]
    );
    let cj = json!({"metadata": meta("hello"), "spec": {"schedule": "*/1 * * * *", "suspend": false,
        "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "hello", "image": "busybox"}]}}}}},
        "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": ago(25)}});
    assert_eq!(
        row("batch", "v1", "CronJob", &cj),
        [
            json!("hello"),
            json!("*/1 * * * *"),
            json!("<none>"),
            json!("False"),
            json!(1),
            json!("25s"),
            json!("7m3s"),
            json!("hello"),
            json!("busybox"),
            json!("<none>")
        ]
    );
    let tz = json!({"metadata": meta("nightly"), "spec": {"schedule": "0 3 * * *", "timeZone": "Etc/UTC"}});
    assert_eq!(
        text(&row("batch", "v1", "CronJob", &tz))[2..6],
        ["Etc/UTC", "<unset>", "0", "<none>"]
    );
}

#[test]
fn success_criteria_met_alone_still_prints_running() {
    let j = job(
        json!({"completions": 2}),
        json!({"succeeded": 2, "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}]}),
    );
    assert_eq!(
        text(&row("batch", "v1", "Job", &j))[1..3],
        ["Running", "2/2"]
    );
}
