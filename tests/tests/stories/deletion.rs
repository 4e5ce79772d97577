//! Story 7: namespace deletion, orphan and foreground cascading deletion, and Endpoints that
//! list only ready pods.

use rkube_e2e::Cluster;
use rkube_e2e::story::{
    ManifestDir, active_pods, assert_contains, get_json, jp, pods, pods_in, try_get_json,
    wait_deploy_ready, wait_nodes_ready, wait_until,
};

/// A pod pinned to `node`, labelled `app=ep`, tolerating the `slow` taint.
fn ep_pod(name: &str, node: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: ep
spec:
  nodeSelector:
    kubernetes.io/hostname: {node}
  tolerations:
  - key: slow
    operator: Exists
    effect: NoSchedule
  containers:
  - name: web
    image: nginx
    ports:
    - containerPort: 80
"#
    )
}

/// The ReplicaSets whose name starts with `prefix`: (name, ownerReferences).
fn rs_owners(c: &Cluster, prefix: &str) -> Vec<(String, serde_json::Value)> {
    get_json(c, &["get", "rs"])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| {
            r["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(prefix))
        })
        .map(|r| {
            (
                r["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                r["metadata"]["ownerReferences"].clone(),
            )
        })
        .collect()
}

#[test]
fn deletion_cascades_and_ready_endpoints() {
    let c = Cluster::start();
    // A plain node, and one whose pods never turn Ready (tainted so only pods that ask for
    // it land there).
    let _fast = c.simulate_nodes_with("fast-", 1, &[]);
    let _slow = c.simulate_nodes_with(
        "slow-",
        1,
        &[
            "--sim-ready-delay",
            "3600",
            "--node-taint",
            "slow=yes:NoSchedule",
        ],
    );
    wait_nodes_ready(&c, &["fast-0000", "slow-0000"]);
    let dir = ManifestDir::new();

    // Deleting a namespace deletes what is in it, then the namespace.
    assert_contains(
        &c.ok(&["create", "namespace", "story"]),
        "namespace/story created",
    );
    c.ok(&[
        "create",
        "deployment",
        "web",
        "-n",
        "story",
        "--image=nginx",
        "--replicas=2",
    ]);
    c.ok(&["expose", "deployment", "web", "-n", "story", "--port=80"]);
    c.ok(&[
        "create",
        "configmap",
        "cfg",
        "-n",
        "story",
        "--from-literal=a=b",
    ]);
    wait_until(&c, 90, "2 pods in namespace story", || {
        pods_in(&c, "story", "app=web")
            .iter()
            .filter(|p| p.active() && p.ready)
            .count()
            == 2
    });
    let out = c.ok(&["delete", "namespace", "story", "--timeout=120s"]);
    assert_contains(&out, "namespace \"story\" deleted");
    assert_contains(&c.fails(&["get", "namespace", "story"]), "NotFound");
    let left = c.kubectl(&["get", "all,cm,endpoints", "-n", "story", "-o", "name"]);
    assert_eq!(
        String::from_utf8_lossy(&left.stdout).trim(),
        "",
        "nothing is left in the deleted namespace"
    );

    // --cascade=orphan: the ReplicaSet and pods stay, without an owner.
    c.ok(&[
        "create",
        "deployment",
        "orphan",
        "--image=nginx",
        "--replicas=2",
    ]);
    wait_deploy_ready(&c, "orphan", "app=orphan", 2);
    let before = active_pods(&c, "app=orphan");
    let out = c.ok(&["delete", "deployment", "orphan", "--cascade=orphan"]);
    assert_contains(&out, "deployment.apps \"orphan\" deleted");
    assert_contains(&c.fails(&["get", "deployment", "orphan"]), "NotFound");
    wait_until(&c, 30, "the orphaned ReplicaSet without owner", || {
        let rss = rs_owners(&c, "orphan-");
        rss.len() == 1 && rss[0].1.as_array().is_none_or(Vec::is_empty)
    });
    let rs = rs_owners(&c, "orphan-").remove(0).0;
    assert_eq!(
        active_pods(&c, "app=orphan"),
        before,
        "the orphaned pods keep running"
    );
    assert!(
        before
            .iter()
            .all(|p| p.owner.as_deref() == Some(&format!("ReplicaSet/{rs}"))),
        "the pods still belong to the ReplicaSet: {before:?}"
    );
    assert!(!c.ok(&["describe", "rs", &rs]).contains("Controlled By"));

    // --cascade=foreground: the owner waits (foregroundDeletion) until its dependents are gone.
    c.ok(&[
        "create",
        "deployment",
        "fg",
        "--image=nginx",
        "--replicas=2",
    ]);
    wait_deploy_ready(&c, "fg", "app=fg", 2);
    let held = active_pods(&c, "app=fg").remove(0).name;
    c.ok(&[
        "patch",
        "pod",
        &held,
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["e2e.rkube.dev/hold"]}}"#,
    ]);
    let fg_rs = rs_owners(&c, "fg-").remove(0).0;
    let out = c.ok(&[
        "delete",
        "deployment",
        "fg",
        "--cascade=foreground",
        "--wait=false",
    ]);
    assert_contains(&out, "deployment.apps \"fg\" deleted");
    wait_until(
        &c,
        60,
        "fg's other pod gone, the held one Terminating",
        || {
            let p = pods(&c, "app=fg");
            p.len() == 1 && p[0].name == held && p[0].deleting
        },
    );
    let d = try_get_json(&c, &["get", "deployment", "fg"]).expect("fg waits for its dependents");
    assert!(d["metadata"]["deletionTimestamp"].is_string(), "{d}");
    assert_eq!(
        d["metadata"]["finalizers"],
        serde_json::json!(["foregroundDeletion"])
    );
    let r = try_get_json(&c, &["get", "rs", &fg_rs]).expect("fg's ReplicaSet waits for its pod");
    assert!(r["metadata"]["deletionTimestamp"].is_string(), "{r}");
    assert_eq!(
        r["metadata"]["finalizers"],
        serde_json::json!(["foregroundDeletion"])
    );
    c.ok(&[
        "patch",
        "pod",
        &held,
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    wait_until(&c, 60, "fg, its ReplicaSet and pods gone", || {
        pods(&c, "app=fg").is_empty()
            && try_get_json(&c, &["get", "rs", &fg_rs]).is_none()
            && try_get_json(&c, &["get", "deployment", "fg"]).is_none()
    });

    // Endpoints: the ready pod in addresses, the unready one in notReadyAddresses.
    let f = dir.write(
        "ep.yaml",
        &format!(
            "{}---\n{}",
            ep_pod("ep-ready", "fast-0000"),
            ep_pod("ep-slow", "slow-0000")
        ),
    );
    c.ok(&["apply", "-f", &f]);
    assert_contains(
        &c.ok(&["create", "service", "clusterip", "ep", "--tcp=80:80"]),
        "service/ep created",
    );
    wait_until(&c, 60, "both ep pods Running with IPs", || {
        let p = pods(&c, "app=ep");
        p.len() == 2 && p.iter().all(|p| p.phase == "Running" && !p.ip.is_empty())
    });
    let ps = pods(&c, "app=ep");
    let ip = |n: &str| {
        ps.iter()
            .find(|p| p.name == n)
            .map(|p| p.ip.clone())
            .unwrap_or_default()
    };
    let (ready_ip, slow_ip) = (ip("ep-ready"), ip("ep-slow"));
    assert!(
        !ps.iter()
            .find(|p| p.name == "ep-slow")
            .is_some_and(|p| p.ready)
    );
    wait_until(&c, 60, "Endpoints split by readiness", || {
        jp(
            &c,
            &[
                "get",
                "endpoints",
                "ep",
                "-o",
                "jsonpath={.subsets[*].addresses[*].ip}",
            ],
        ) == ready_ip
            && jp(
                &c,
                &[
                    "get",
                    "endpoints",
                    "ep",
                    "-o",
                    "jsonpath={.subsets[*].notReadyAddresses[*].ip}",
                ],
            ) == slow_ip
    });
    let listing = c.ok(&["get", "endpoints", "ep"]);
    assert_contains(&listing, &format!("{ready_ip}:80"));
    assert!(!listing.contains(&slow_ip), "{listing}");
    assert_contains(
        &c.ok(&["describe", "service", "ep"]),
        &format!("Endpoints:                {ready_ip}:80"),
    );
    let slices = get_json(
        &c,
        &[
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=ep",
        ],
    );
    let eps: Vec<(String, bool)> = slices["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            (
                e["addresses"][0].as_str().unwrap_or_default().to_owned(),
                e["conditions"]["ready"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    let mut eps = eps;
    eps.sort();
    let mut want = vec![(ready_ip.clone(), true), (slow_ip.clone(), false)];
    want.sort();
    assert_eq!(eps, want, "EndpointSlice conditions");
}
