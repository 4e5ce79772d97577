//! Pod printer tests: STATUS, READY and RESTARTS for the states kubectl users meet.

use serde_json::{Value, json};

use super::{ago, headers, row, text};

fn pod(spec: Value, status: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": ago(300)},
        "spec": spec,
        "status": status,
    })
}

fn one(name: &str) -> Value {
    json!({"containers": [{"name": name, "image": "nginx"}], "nodeName": "node-1"})
}

fn print(p: &Value) -> Vec<String> {
    text(&row("", "v1", "Pod", p))
}

#[test]
fn headers_match_kubectl() {
    assert_eq!(
        headers("", "v1", "Pod", false),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    assert_eq!(
        headers("", "v1", "Pod", true),
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES"
        ]
    );
}

#[test]
fn running_nginx() {
    let p = pod(
        one("nginx"),
        json!({"phase": "Running", "podIP": "10.42.0.5", "podIPs": [{"ip": "10.42.0.5"}],
               "conditions": [{"type": "Ready", "status": "True"}],
               "containerStatuses": [{"name": "nginx", "ready": true, "restartCount": 0,
                                      "state": {"running": {"startedAt": ago(290)}}}]}),
    );
    assert_eq!(
        print(&p),
        [
            "web",
            "1/1",
            "Running",
            "0",
            "5m",
            "10.42.0.5",
            "node-1",
            "<none>",
            "<none>"
        ]
    );
}

#[test]
fn crash_loop_back_off_with_restarts() {
    let p = pod(
        one("app"),
        json!({"phase": "Running", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(65)}}}]}),
    );
    assert_eq!(&print(&p)[1..4], ["0/1", "CrashLoopBackOff", "3 (65s ago)"]);
}

#[test]
fn pending_states() {
    let creating = pod(
        one("app"),
        json!({"phase": "Pending", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
    );
    assert_eq!(&print(&creating)[1..4], ["0/1", "ContainerCreating", "0"]);
    let pull = pod(
        one("app"),
        json!({"phase": "Pending", "containerStatuses": [{"name": "app", "restartCount": 0,
            "state": {"waiting": {"reason": "ErrImagePull"}}}]}),
    );
    assert_eq!(print(&pull)[2], "ErrImagePull");
    let unscheduled = pod(
        json!({"containers": [{"name": "a"}]}),
        json!({"phase": "Pending"}),
    );
    assert_eq!(
        print(&unscheduled)[1..],
        [
            "0/1", "Pending", "0", "5m", "<none>", "<none>", "<none>", "<none>"
        ]
    );
    let gated = pod(
        json!({"containers": [{"name": "a"}], "schedulingGates": [{"name": "example.com/gate"}]}),
        json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
    );
    assert_eq!(print(&gated)[2], "SchedulingGated");
}

#[test]
fn terminated_containers() {
    let status = |term: Value| {
        pod(
            one("app"),
            json!({"phase": "Failed", "containerStatuses": [{"name": "app", "restartCount": 0, "state": {"terminated": term}}]}),
        )
    };
    assert_eq!(
        print(&status(json!({"exitCode": 137, "reason": "OOMKilled"})))[2],
        "OOMKilled"
    );
    assert_eq!(
        print(&status(json!({"exitCode": 1, "reason": "Error"})))[2],
        "Error"
    );
    assert_eq!(print(&status(json!({"exitCode": 2})))[2], "ExitCode:2");
    assert_eq!(
        print(&status(json!({"exitCode": 137, "signal": 9})))[2],
        "Signal:9"
    );
    let done = pod(
        one("app"),
        json!({"phase": "Succeeded", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}),
    );
    assert_eq!(&print(&done)[1..3], ["0/1", "Completed"]);
}

#[test]
fn init_containers() {
    let spec = json!({"initContainers": [{"name": "init-a"}, {"name": "init-b"}], "containers": [{"name": "app"}]});
    let waiting_main = json!([{"name": "app", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]);
    let p = pod(
        spec.clone(),
        json!({"phase": "Pending",
            "initContainerStatuses": [
                {"name": "init-a", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "init-b", "restartCount": 0, "state": {"running": {}}}],
            "containerStatuses": waiting_main}),
    );
    assert_eq!(&print(&p)[1..4], ["0/1", "Init:1/2", "0"]);
    let first = pod(
        spec.clone(),
        json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "init-a", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}},
            {"name": "init-b", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]}),
    );
    assert_eq!(print(&first)[2], "Init:0/2");
    let failed = |term: Value| {
        pod(
            spec.clone(),
            json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "init-a", "restartCount": 2, "state": {"terminated": term},
             "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(30)}}}]}),
        )
    };
    assert_eq!(
        &print(&failed(json!({"exitCode": 1})))[2..4],
        ["Init:ExitCode:1", "2 (30s ago)"]
    );
    assert_eq!(
        print(&failed(json!({"exitCode": 1, "reason": "Error"})))[2],
        "Init:Error"
    );
    assert_eq!(
        print(&failed(json!({"exitCode": 137, "signal": 9})))[2],
        "Init:Signal:9"
    );
    let backoff = pod(
        spec,
        json!({"phase": "Pending", "initContainerStatuses": [
            {"name": "init-a", "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}),
    );
    assert_eq!(&print(&backoff)[2..4], ["Init:CrashLoopBackOff", "4"]);
}

#[test]
fn sidecars_count_in_ready_and_restarts() {
    let spec = json!({"initContainers": [{"name": "proxy", "restartPolicy": "Always"}], "containers": [{"name": "app"}]});
    let p = pod(
        spec,
        json!({"phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "initContainerStatuses": [{"name": "proxy", "ready": true, "started": true, "restartCount": 1,
                "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(600)}}}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}}]}),
    );
    assert_eq!(&print(&p)[1..4], ["2/2", "Running", "1 (10m ago)"]);
}

#[test]
fn completed_container_beside_a_running_one() {
    let spec = json!({"containers": [{"name": "a"}, {"name": "b"}]});
    let status = |ready: &str| {
        json!({"phase": "Running", "conditions": [{"type": "Ready", "status": ready}],
            "containerStatuses": [
                {"name": "a", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
                {"name": "b", "ready": true, "restartCount": 0, "state": {"running": {}}}]})
    };
    assert_eq!(
        &print(&pod(spec.clone(), status("False")))[1..3],
        ["1/2", "NotReady"]
    );
    assert_eq!(&print(&pod(spec, status("True")))[1..3], ["1/2", "Running"]);
}

#[test]
fn deletion_states() {
    let mut p = pod(one("app"), json!({"phase": "Running"}));
    p["metadata"]["deletionTimestamp"] = json!(ago(5));
    assert_eq!(print(&p)[2], "Terminating");
    p["status"]["reason"] = json!("NodeLost");
    assert_eq!(print(&p)[2], "Unknown");
    let mut done = pod(one("app"), json!({"phase": "Succeeded"}));
    done["metadata"]["deletionTimestamp"] = json!(ago(5));
    assert_eq!(print(&done)[2], "Succeeded");
}

#[test]
fn readiness_gates_and_missing_age() {
    let p = json!({"metadata": {"name": "g"},
        "spec": {"containers": [{"name": "a"}], "readinessGates": [{"conditionType": "x/one"}, {"conditionType": "x/two"}]},
        "status": {"phase": "Running", "nominatedNodeName": "node-2",
                   "conditions": [{"type": "x/one", "status": "True"}, {"type": "x/two", "status": "False"}]}});
    let cells = print(&p);
    assert_eq!(cells[4], "<unknown>");
    assert_eq!(cells[7], "node-2");
    assert_eq!(cells[8], "1/2");
}

#[test]
fn pod_template() {
    let t = json!({"metadata": {"name": "tpl"}, "template": {"metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "busybox"}]}}});
    assert_eq!(
        headers("", "v1", "PodTemplate", false),
        ["NAME", "CONTAINERS", "IMAGES", "POD LABELS"]
    );
    assert_eq!(
        text(&row("", "v1", "PodTemplate", &t)),
        ["tpl", "a,b", "nginx,busybox", "app=web"]
    );
}
