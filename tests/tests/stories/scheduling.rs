//! Story 8: a pod that fits nowhere stays Pending with upstream's FailedScheduling message,
//! and is scheduled as soon as the pods holding the cpu go.

use rkube_e2e::Cluster;
use rkube_e2e::story::{
    ManifestDir, active_pods, assert_contains, get_json, jp, try_get_json, wait_deploy_ready,
    wait_nodes_ready, wait_until,
};

const HOG: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: hog
spec:
  replicas: 2
  selector:
    matchLabels:
      app: hog
  template:
    metadata:
      labels:
        app: hog
    spec:
      containers:
      - name: hog
        image: nginx
        resources:
          requests:
            cpu: 1500m
"#;

const BIG: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: big
spec:
  containers:
  - name: big
    image: nginx
    resources:
      requests:
        cpu: "1"
"#;

const MESSAGE: &str = "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are \
                       available: 2 No preemption victims found for incoming pod.";

/// Messages of the pod's events with `reason`.
fn event_messages(c: &Cluster, pod: &str, reason: &str) -> Vec<String> {
    let sel = format!("involvedObject.name={pod},reason={reason}");
    get_json(c, &["get", "events", "--field-selector", &sel])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn unschedulable_pod_waits_for_cpu() {
    let c = Cluster::start();
    let _agent = c.simulate_nodes_with("small-", 2, &["--sim-cpu", "2"]);
    wait_nodes_ready(&c, &["small-0000", "small-0001"]);
    let dir = ManifestDir::new();
    c.ok(&["apply", "-f", &dir.write("hog.yaml", HOG)]);
    wait_deploy_ready(&c, "hog", "app=hog", 2);
    let mut nodes: Vec<String> = active_pods(&c, "app=hog")
        .into_iter()
        .map(|p| p.node)
        .collect();
    nodes.sort();
    assert_eq!(
        nodes,
        ["small-0000", "small-0001"],
        "1.5 of 2 cpus: one hog per node"
    );

    assert_contains(
        &c.ok(&["apply", "-f", &dir.write("big.yaml", BIG)]),
        "pod/big created",
    );
    wait_until(&c, 60, "FailedScheduling for big", || {
        !event_messages(&c, "big", "FailedScheduling").is_empty()
    });
    let msgs = event_messages(&c, "big", "FailedScheduling");
    assert!(
        msgs.iter().all(|m| m == MESSAGE),
        "want {MESSAGE:?}, got {msgs:?}"
    );
    let pod = get_json(&c, &["get", "pod", "big"]);
    assert_eq!(pod["status"]["phase"], "Pending");
    assert!(pod["spec"]["nodeName"].is_null(), "{pod}");
    let cond = pod["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "PodScheduled").cloned())
        .expect("PodScheduled condition");
    assert_eq!(cond["status"], "False");
    assert_eq!(cond["reason"], "Unschedulable");
    assert_eq!(cond["message"], MESSAGE);
    let d = c.ok(&["describe", "pod", "big"]);
    assert_contains(&d, "FailedScheduling");
    assert_contains(&d, "default-scheduler");
    assert_contains(&d, "0/2 nodes are available: 2 Insufficient cpu.");
    assert_contains(&c.ok(&["get", "pod", "big"]), "Pending");

    // The cpu frees up: big is scheduled.
    assert_contains(
        &c.ok(&["delete", "deployment", "hog", "--timeout=60s"]),
        "deployment.apps \"hog\" deleted",
    );
    wait_until(&c, 60, "big scheduled and running", || {
        try_get_json(&c, &["get", "pod", "big"])
            .is_some_and(|p| p["status"]["phase"] == "Running" && p["spec"]["nodeName"].is_string())
    });
    let node = jp(
        &c,
        &["get", "pod", "big", "-o", "jsonpath={.spec.nodeName}"],
    );
    let scheduled = event_messages(&c, "big", "Scheduled");
    assert_eq!(
        scheduled,
        [format!("Successfully assigned default/big to {node}")],
        "{scheduled:?}"
    );
}
