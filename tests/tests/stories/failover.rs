//! Story 2: a silent node goes NotReady, gets the unreachable taint, loses its pods to the
//! other node; back again, it loses the taint and gets no pods back.

use std::collections::BTreeMap;

use rkube_e2e::story::{
    ManifestDir, active_pods, assert_contains, get_json, node_ready, node_taints, pods,
    wait_deploy_ready, wait_nodes_ready, wait_until,
};
use rkube_e2e::{Cluster, ServerOptions};

const MANIFEST: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: failover
spec:
  replicas: 4
  selector:
    matchLabels:
      app: failover
  template:
    metadata:
      labels:
        app: failover
    spec:
      tolerations:
      - key: node.kubernetes.io/unreachable
        operator: Exists
        effect: NoExecute
        tolerationSeconds: 2
      - key: node.kubernetes.io/not-ready
        operator: Exists
        effect: NoExecute
        tolerationSeconds: 2
      containers:
      - name: web
        image: nginx
"#;

const SEL: &str = "app=failover";

#[test]
fn silent_node_fails_over_and_comes_back_without_pods() {
    let c = Cluster::start_with(ServerOptions {
        extra_args: vec!["--node-monitor-grace-period".into(), "5".into()],
        ..Default::default()
    });
    // Leases renewed every second, well inside the 5 s grace period.
    let lease = ["--sim-node-lease-duration", "4"];
    let east = c.simulate_nodes_with("east-", 1, &lease);
    let west = c.simulate_nodes_with("west-", 1, &lease);
    wait_nodes_ready(&c, &["east-0000", "west-0000"]);
    let dir = ManifestDir::new();
    let f = dir.write("failover.yaml", MANIFEST);
    assert_contains(
        &c.ok(&["apply", "-f", &f]),
        "deployment.apps/failover created",
    );
    wait_deploy_ready(&c, "failover", SEL, 4);

    // Silence the node holding the most pods.
    let before = active_pods(&c, SEL);
    let on_east = before.iter().filter(|p| p.node == "east-0000").count();
    let (victim, survivor, agent) = if on_east * 2 >= before.len() {
        ("east-0000", "west-0000", &east)
    } else {
        ("west-0000", "east-0000", &west)
    };
    let doomed: Vec<String> = before
        .iter()
        .filter(|p| p.node == victim)
        .map(|p| p.name.clone())
        .collect();
    assert!(!doomed.is_empty());
    agent.signal(libc::SIGUSR1);

    wait_until(&c, 60, &format!("{victim} Ready=Unknown"), || {
        node_ready(&c, victim) == "Unknown"
    });
    let nodes = c.ok(&["get", "nodes"]);
    assert!(
        nodes
            .lines()
            .any(|l| l.starts_with(victim) && l.contains(" NotReady ")),
        "{nodes}"
    );
    wait_until(&c, 30, &format!("{victim} tainted unreachable"), || {
        node_taints(&c, victim).contains(&"node.kubernetes.io/unreachable:NoExecute".to_owned())
    });
    let d = c.ok(&["describe", "node", victim]);
    assert_contains(&d, "node.kubernetes.io/unreachable:NoExecute");
    assert_contains(&d, "Kubelet stopped posting node status.");

    // Its pods are evicted after their 2 s toleration and stay Terminating (their kubelet is
    // silent); replacements run on the survivor.
    wait_until(&c, 60, "the silent node's pods Terminating", || {
        let all = pods(&c, SEL);
        doomed
            .iter()
            .all(|n| all.iter().any(|p| &p.name == n && p.deleting))
    });
    let listing = c.ok(&["get", "pods", "-l", SEL]);
    for n in &doomed {
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with(n.as_str()) && l.contains("Terminating")),
            "{listing}"
        );
    }
    for n in &doomed {
        let p = get_json(&c, &["get", "pod", n]);
        let cond = |t: &str| {
            p["status"]["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == t).cloned())
                .unwrap_or_default()
        };
        assert_eq!(cond("Ready")["status"], "False", "{p}");
        assert_eq!(cond("PodScheduled")["status"], "True", "{p}");
        let dt = cond("DisruptionTarget");
        assert_eq!(dt["status"], "True", "{p}");
        assert_eq!(dt["reason"], "DeletionByTaintManager", "{p}");
        assert_eq!(
            dt["message"],
            "Taint manager: deleting due to NoExecute taint"
        );
    }
    let d = c.ok(&["describe", "pod", &doomed[0]]);
    assert_contains(&d, "NodeNotReady");
    assert_contains(&d, "Node is not ready");
    assert_contains(&d, "TaintManagerEviction");
    assert_contains(
        &d,
        &format!("Marking for deletion Pod default/{}", doomed[0]),
    );
    let sel = format!("involvedObject.kind=Node,involvedObject.name={victim}");
    assert_contains(
        &c.ok(&["get", "events", "--field-selector", &sel]),
        &format!("Node {victim} status is now: NodeNotReady"),
    );
    wait_until(&c, 60, "4 ready replacement pods on the survivor", || {
        let a = active_pods(&c, SEL);
        a.len() == 4 && a.iter().all(|p| p.node == survivor && p.ready)
    });
    let placed: BTreeMap<String, String> = active_pods(&c, SEL)
        .into_iter()
        .map(|p| (p.name, p.node))
        .collect();

    // Back again: Ready, untainted, the Terminating pods finish, nothing moves back.
    agent.signal(libc::SIGUSR2);
    wait_until(&c, 60, &format!("{victim} Ready again"), || {
        node_ready(&c, victim) == "True"
    });
    wait_until(&c, 30, &format!("{victim} untainted"), || {
        !node_taints(&c, victim)
            .iter()
            .any(|t| t.starts_with("node.kubernetes.io/unreachable"))
    });
    wait_until(&c, 60, "the evicted pods gone", || {
        let all = pods(&c, SEL);
        !all.iter().any(|p| doomed.contains(&p.name))
    });
    wait_deploy_ready(&c, "failover", SEL, 4);
    let after: BTreeMap<String, String> = active_pods(&c, SEL)
        .into_iter()
        .map(|p| (p.name, p.node))
        .collect();
    assert_eq!(after, placed, "no pod moves back to the returning node");
}
