//! The shared manifests on simulated nodes: scheduler, controllers and simulated kubelets together.

use std::time::Duration;

use rkube_e2e::Cluster;
use rkube_e2e::kubectl_scenario::{eventually, manifests_dir};

#[test]
fn manifests_run_on_simulated_nodes() {
    let c = Cluster::start();
    let _agent = c.simulate_nodes(2);
    assert!(
        eventually(Duration::from_secs(30), || c
            .ok(&["get", "nodes", "--no-headers"])
            .matches(" Ready ")
            .count()
            == 2),
        "two simulated nodes should be Ready"
    );
    c.ok(&["apply", "-f", manifests_dir().to_str().unwrap_or_default()]);
    let jp = |args: &[&str]| c.ok(args).trim().to_string();
    let settled = eventually(Duration::from_secs(60), || {
        jp(&[
            "get",
            "deploy",
            "nginx-deployment",
            "-o",
            "jsonpath={.status.readyReplicas}",
        ]) == "2"
            && jp(&[
                "get",
                "rc",
                "web-rc",
                "-o",
                "jsonpath={.status.readyReplicas}",
            ]) == "7"
            && jp(&[
                "get",
                "ds",
                "node-agent",
                "-o",
                "jsonpath={.status.numberReady}",
            ]) == "2"
            && jp(&["get", "job", "myjob", "-o", "jsonpath={.status.succeeded}"]) == "1"
            && jp(&[
                "get",
                "job",
                "parallel",
                "-o",
                "jsonpath={.status.succeeded}",
            ]) == "6"
    });
    assert!(
        settled,
        "workloads did not settle:\n{}",
        c.ok(&["get", "all", "-A", "-o", "wide"])
    );
    let pods = c.ok(&["get", "pods", "-o", "wide"]);
    assert!(
        pods.contains("myapp-pod") && pods.contains("Running"),
        "{pods}"
    );
    let rs = c.ok(&["get", "rs", "-o", "name"]);
    assert!(
        rs.trim().starts_with("replicaset.apps/nginx-deployment-"),
        "{rs}"
    );
    let jobs = c.ok(&["get", "jobs"]);
    assert!(jobs.contains("1/1") && jobs.contains("6/6"), "{jobs}");
    // The NodePort service's endpoints list the RC's 7 ready pods.
    assert!(
        eventually(Duration::from_secs(20), || {
            jp(&[
                "get",
                "endpoints",
                "myweb-nodeport",
                "-o",
                "jsonpath={.subsets[0].addresses[*].ip}",
            ])
            .split_whitespace()
            .count()
                == 7
        }),
        "{}",
        c.ok(&["describe", "svc", "myweb-nodeport"])
    );
    // Scaling the deployment through kubectl is carried out.
    c.ok(&["scale", "deploy", "nginx-deployment", "--replicas=5"]);
    assert!(eventually(Duration::from_secs(30), || jp(&[
        "get",
        "deploy",
        "nginx-deployment",
        "-o",
        "jsonpath={.status.readyReplicas}"
    ]) == "5"));
    // Deleting the namespace removes what is inside, then the namespace.
    c.ok(&["delete", "ns", "linux", "--wait=false"]);
    assert!(eventually(Duration::from_secs(30), || !c
        .kubectl(&["get", "ns", "linux"])
        .status
        .success()));
}
