//! Stories 3 and 4: node labels and taints set with kubectl steer pods; a DaemonSet follows
//! the nodes.

use rkube_e2e::Cluster;
use rkube_e2e::kubectl_scenario::manifests_dir;
use rkube_e2e::story::{
    ManifestDir, PodView, active_pods, assert_contains, get_json, jp, node_taints, pods,
    wait_deploy_ready, wait_nodes_ready, wait_until,
};

fn deployment(name: &str, replicas: u32, node_selector: Option<(&str, &str)>) -> String {
    let selector = node_selector
        .map(|(k, v)| format!("      nodeSelector:\n        {k}: {v}\n"))
        .unwrap_or_default();
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
{selector}      containers:
      - name: web
        image: nginx
"#
    )
}

fn nodes_of(p: &[PodView]) -> Vec<(String, String)> {
    p.iter().map(|p| (p.name.clone(), p.node.clone())).collect()
}

#[test]
fn labels_and_taints_steer_pods() {
    let c = Cluster::start();
    let _agent = c.simulate_nodes(2);
    wait_nodes_ready(&c, &["sim-0000", "sim-0001"]);
    let dir = ManifestDir::new();

    // nodeSelector follows a label set with kubectl.
    assert_contains(
        &c.ok(&["label", "node", "sim-0000", "disktype=ssd"]),
        "node/sim-0000 labeled",
    );
    assert_eq!(
        c.ok(&["get", "nodes", "-l", "disktype=ssd", "-o", "name"])
            .trim(),
        "node/sim-0000"
    );
    let f = dir.write("ssd.yaml", &deployment("ssd", 3, Some(("disktype", "ssd"))));
    assert_contains(&c.ok(&["apply", "-f", &f]), "deployment.apps/ssd created");
    wait_deploy_ready(&c, "ssd", "app=ssd", 3);
    let ssd = active_pods(&c, "app=ssd");
    assert!(
        ssd.iter().all(|p| p.node == "sim-0000"),
        "every ssd replica on the labelled node: {:?}",
        nodes_of(&ssd)
    );

    // NoSchedule keeps new pods off; pods already there stay.
    assert_contains(
        &c.ok(&["taint", "node", "sim-0000", "dedicated=special:NoSchedule"]),
        "node/sim-0000 tainted",
    );
    let f = dir.write("plain.yaml", &deployment("plain", 4, None));
    assert_contains(&c.ok(&["apply", "-f", &f]), "deployment.apps/plain created");
    wait_deploy_ready(&c, "plain", "app=plain", 4);
    let plain = active_pods(&c, "app=plain");
    assert!(
        plain.iter().all(|p| p.node == "sim-0001"),
        "no new pod on the NoSchedule node: {:?}",
        nodes_of(&plain)
    );
    assert_eq!(active_pods(&c, "app=ssd"), ssd, "NoSchedule evicts nothing");

    // NoExecute evicts the pods that do not tolerate it; their replacements have nowhere to go.
    let out = c.ok(&[
        "taint",
        "node",
        "sim-0000",
        "evict=now:NoExecute",
        "dedicated-",
    ]);
    assert_contains(&out, "node/sim-0000 modified");
    assert_eq!(node_taints(&c, "sim-0000"), ["evict:NoExecute"]);
    wait_until(
        &c,
        60,
        "the ssd pods evicted and replaced by Pending ones",
        || {
            let all = pods(&c, "app=ssd");
            let active: Vec<&PodView> = all.iter().filter(|p| p.active()).collect();
            !all.iter().any(|p| ssd.iter().any(|s| s.name == p.name))
                && active.len() == 3
                && active
                    .iter()
                    .all(|p| p.node.is_empty() && p.phase == "Pending")
        },
    );
    let events = c.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=TaintManagerEviction",
    ]);
    assert_contains(
        &events,
        &format!("Marking for deletion Pod default/{}", ssd[0].name),
    );
    let pending = active_pods(&c, "app=ssd").remove(0);
    let sel = format!(
        "involvedObject.name={},reason=FailedScheduling",
        pending.name
    );
    wait_until(&c, 30, "FailedScheduling of a Pending ssd pod", || {
        !jp(
            &c,
            &["get", "events", "--field-selector", &sel, "-o", "name"],
        )
        .is_empty()
    });
    let msgs = jp(
        &c,
        &[
            "get",
            "events",
            "--field-selector",
            &sel,
            "-o",
            "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}",
        ],
    );
    let want = "0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, \
                1 node(s) had untolerated taint {evict: now}. preemption: 0/2 nodes are \
                available: 2 Preemption is not helpful for scheduling.";
    assert!(
        msgs.lines().all(|m| m == want),
        "want {want:?}, got {msgs:?}"
    );
    assert_eq!(
        nodes_of(&active_pods(&c, "app=plain")),
        nodes_of(&plain),
        "the other node's pods are untouched"
    );

    // Untainted, the node takes the Pending pods.
    assert_contains(
        &c.ok(&["taint", "node", "sim-0000", "evict-"]),
        "node/sim-0000 untainted",
    );
    wait_deploy_ready(&c, "ssd", "app=ssd", 3);
    assert!(
        active_pods(&c, "app=ssd")
            .iter()
            .all(|p| p.node == "sim-0000")
    );
}

#[test]
fn daemonset_follows_nodes_and_taints() {
    let c = Cluster::start();
    let _agent = c.simulate_nodes(2);
    wait_nodes_ready(&c, &["sim-0000", "sim-0001"]);
    let f = manifests_dir().join("07-daemonset.yaml");
    assert_contains(
        &c.ok(&["apply", "-f", f.to_str().unwrap_or_default()]),
        "daemonset.apps/node-agent created",
    );
    let sel = "name=node-agent";
    let ds_status = |c: &Cluster| {
        let v = get_json(c, &["get", "ds", "node-agent"]);
        let n = |k: &str| v["status"][k].as_i64().unwrap_or(-1);
        (n("desiredNumberScheduled"), n("numberReady"))
    };
    let on_nodes = |c: &Cluster| {
        let mut n: Vec<String> = active_pods(c, sel)
            .into_iter()
            .filter(|p| p.ready)
            .map(|p| p.node)
            .collect();
        n.sort();
        n
    };
    wait_until(&c, 60, "one node-agent pod per node", || {
        ds_status(&c) == (2, 2) && on_nodes(&c) == ["sim-0000", "sim-0001"]
    });

    // A NoSchedule node (registered first) gets none; a plain new node gets one.
    let _tainted = c.simulate_nodes_with(
        "tainted-",
        1,
        &["--node-taint", "dedicated=infra:NoSchedule"],
    );
    wait_nodes_ready(&c, &["tainted-0000"]);
    let _extra = c.simulate_nodes_with("extra-", 1, &[]);
    wait_until(&c, 60, "a node-agent pod on the new node", || {
        ds_status(&c) == (3, 3) && on_nodes(&c) == ["extra-0000", "sim-0000", "sim-0001"]
    });
    assert!(
        !pods(&c, sel).iter().any(|p| p.node == "tainted-0000"),
        "no node-agent pod on the NoSchedule node"
    );
    let desc = c.ok(&["describe", "ds", "node-agent"]);
    assert_contains(&desc, "Desired Number of Nodes Scheduled: 3");
    let extra_pod = active_pods(&c, sel)
        .into_iter()
        .find(|p| p.node == "extra-0000")
        .expect("pod on extra-0000");
    assert_contains(&desc, "SuccessfulCreate");
    assert_contains(&desc, &format!("Created pod: {}", extra_pod.name));
    assert_contains(&desc, "daemonset-controller");

    // Tolerating the taint brings a pod there too.
    let out = c.ok(&[
        "patch",
        "ds",
        "node-agent",
        "-p",
        r#"{"spec":{"template":{"spec":{"tolerations":[{"key":"dedicated","operator":"Equal","value":"infra","effect":"NoSchedule"}]}}}}"#,
    ]);
    assert_contains(&out, "daemonset.apps/node-agent patched");
    wait_until(&c, 90, "node-agent on all 4 nodes after tolerating", || {
        ds_status(&c) == (4, 4)
            && on_nodes(&c) == ["extra-0000", "sim-0000", "sim-0001", "tainted-0000"]
    });
    let out = c.ok(&["rollout", "status", "ds", "node-agent", "--timeout=90s"]);
    assert_contains(&out, "daemon set \"node-agent\" successfully rolled out");
}
