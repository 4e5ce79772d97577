//! Story 1: a Deployment applied, scaled by re-applying, described, rolled out, rolled back,
//! paused, resumed and restarted.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

use rkube_e2e::Cluster;
use rkube_e2e::kubectl_scenario::manifests_dir;
use rkube_e2e::story::{
    ManifestDir, PodView, active_pods, assert_contains, dump, get_json, jp, wait_deploy_ready,
    wait_nodes_ready, wait_until,
};
use serde_json::Value;

const SEL: &str = "app=web_server";
const DEPLOY: &str = "nginx-deployment";

/// The Deployment's ReplicaSets: name → (spec.replicas, pod-template-hash, image, revision).
fn replica_sets(c: &Cluster) -> Vec<(String, i64, String, String, String)> {
    let v = get_json(c, &["get", "rs", "-l", SEL]);
    v["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|rs| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                s(&rs["metadata"]["name"]),
                rs["spec"]["replicas"].as_i64().unwrap_or(0),
                s(&rs["metadata"]["labels"]["pod-template-hash"]),
                s(&rs["spec"]["template"]["spec"]["containers"][0]["image"]),
                s(&rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]),
            )
        })
        .collect()
}

fn rollout_status(c: &Cluster) {
    let out = c.ok(&["rollout", "status", "deploy", DEPLOY, "--timeout=120s"]);
    assert_contains(
        &out,
        "deployment \"nginx-deployment\" successfully rolled out",
    );
}

/// Every active pod runs `image` from the ReplicaSet with `hash`, and there are `n` of them.
fn wait_pods_on(c: &Cluster, n: usize, hash: &str, image: &str) {
    wait_deploy_ready(c, DEPLOY, SEL, n);
    wait_until(c, 60, &format!("{n} pods of hash {hash} ({image})"), || {
        let p = active_pods(c, SEL);
        p.len() == n
            && p.iter().all(|p| {
                p.labels.get("pod-template-hash").map(String::as_str) == Some(hash)
                    && p.image == image
            })
    });
}

#[test]
fn deployment_scale_describe_rollout_undo_pause_restart() {
    let c = Cluster::start();
    let _agent = c.simulate_nodes(2);
    wait_nodes_ready(&c, &["sim-0000", "sim-0001"]);
    let dir = ManifestDir::new();
    let src = std::fs::read_to_string(manifests_dir().join("02-deployment-nginx.yaml"))
        .expect("read manifest");
    assert!(src.contains("replicas: 2"), "{src}");

    // 2 replicas, over 2 nodes.
    let f = dir.write("deploy.yaml", &src);
    assert_contains(
        &c.ok(&["apply", "-f", &f]),
        "deployment.apps/nginx-deployment created",
    );
    wait_deploy_ready(&c, DEPLOY, SEL, 2);
    let first = active_pods(&c, SEL);
    let nodes: BTreeSet<&str> = first.iter().map(|p| p.node.as_str()).collect();
    // Checked at the end, so the rest of the story still runs when this fails.
    let spread = (nodes.len() == 2).then_some(()).ok_or_else(|| {
        format!(
            "the 2 replicas should be spread over the 2 nodes (default topology spreading), got {:?}",
            first
                .iter()
                .map(|p| (&p.name, &p.node))
                .collect::<Vec<_>>()
        )
    });
    let rss = replica_sets(&c);
    assert_eq!(rss.len(), 1, "one ReplicaSet: {rss:?}");
    let (rs1, _, hash1, _, rev) = rss[0].clone();
    assert_eq!(rs1, format!("{DEPLOY}-{hash1}"));
    assert_eq!(rev, "1");

    // Edit replicas to 5 and re-apply, then to 3.
    let f = dir.write("deploy.yaml", &src.replace("replicas: 2", "replicas: 5"));
    assert_contains(
        &c.ok(&["apply", "-f", &f]),
        "deployment.apps/nginx-deployment configured",
    );
    wait_deploy_ready(&c, DEPLOY, SEL, 5);
    let f = dir.write("deploy.yaml", &src.replace("replicas: 2", "replicas: 3"));
    assert_contains(
        &c.ok(&["apply", "-f", &f]),
        "deployment.apps/nginx-deployment configured",
    );
    wait_deploy_ready(&c, DEPLOY, SEL, 3);
    assert_eq!(replica_sets(&c).len(), 1, "scaling makes no new ReplicaSet");

    // describe: the Controlled By chain and the controllers' events.
    let d = c.ok(&["describe", "deploy", DEPLOY]);
    for s in [
        "ScalingReplicaSet".to_owned(),
        format!("Scaled up replica set {rs1} from 0 to 2"),
        format!("Scaled up replica set {rs1} from 2 to 5"),
        format!("Scaled down replica set {rs1} from 5 to 3"),
        format!("NewReplicaSet:   {rs1} (3/3 replicas created)"),
        "deployment-controller".to_owned(),
    ] {
        assert_contains(&d, &s);
    }
    let pod = active_pods(&c, SEL).remove(0);
    let r = c.ok(&["describe", "rs", &rs1]);
    for s in [
        "Controlled By:  Deployment/nginx-deployment",
        "SuccessfulCreate",
        &format!("Created pod: {}", pod.name),
        "SuccessfulDelete",
        "Deleted pod: ",
        "replicaset-controller",
    ] {
        assert_contains(&r, s);
    }
    let p = c.ok(&["describe", "pod", &pod.name]);
    for s in [
        format!("Controlled By:  ReplicaSet/{rs1}"),
        "Scheduled".to_owned(),
        format!("Successfully assigned default/{} to {}", pod.name, pod.node),
        "default-scheduler".to_owned(),
    ] {
        assert_contains(&p, &s);
    }

    // Rolling update to a new image, sampled: at most 3 + maxSurge (1) replicas are asked
    // for, and at least 3 - maxUnavailable (0) pods stay ready.
    let stop = AtomicBool::new(false);
    let samples = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let spec: i64 = replica_sets(&c).iter().map(|r| r.1).sum();
                let ready = active_pods(&c, SEL).iter().filter(|p| p.ready).count();
                seen.push((spec, ready));
            }
            seen
        });
        let out = c.ok(&[
            "set",
            "image",
            "deploy/nginx-deployment",
            "nginx=nginx:1.25",
        ]);
        assert_contains(&out, "deployment.apps/nginx-deployment image updated");
        rollout_status(&c);
        stop.store(true, Ordering::Relaxed);
        sampler.join().expect("sampler")
    });
    assert!(!samples.is_empty());
    for (spec, ready) in &samples {
        assert!(
            *spec <= 4 && *ready >= 3,
            "rolling update broke maxSurge 1 / maxUnavailable 0: (spec replicas, ready pods) \
             samples {samples:?}\n{}",
            dump(&c)
        );
    }
    let rss = replica_sets(&c);
    assert_eq!(rss.len(), 2, "{rss:?}");
    let (rs2, _, hash2, _, _) = rss
        .iter()
        .find(|r| r.0 != rs1)
        .cloned()
        .expect("a new ReplicaSet");
    wait_pods_on(&c, 3, &hash2, "nginx:1.25");
    let by_name = |name: &str| {
        replica_sets(&c)
            .into_iter()
            .find(|r| r.0 == name)
            .unwrap_or_else(|| panic!("ReplicaSet {name} missing"))
    };
    assert_eq!(by_name(&rs1).1, 0, "the old ReplicaSet is scaled to 0");
    assert_eq!(by_name(&rs2).1, 3);
    assert_eq!(by_name(&rs2).4, "2");

    // History and undo.
    let h = c.ok(&["rollout", "history", "deploy", DEPLOY]);
    assert_contains(&h, "REVISION  CHANGE-CAUSE");
    let revs: Vec<&str> = h
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revs, ["1", "2"], "{h}");
    assert_contains(
        &c.ok(&["rollout", "history", "deploy", DEPLOY, "--revision=2"]),
        "nginx:1.25",
    );
    assert_contains(
        &c.ok(&["rollout", "undo", "deploy", DEPLOY]),
        "deployment.apps/nginx-deployment rolled back",
    );
    rollout_status(&c);
    wait_pods_on(&c, 3, &hash1, "nginx");
    assert_eq!(replica_sets(&c).len(), 2, "undo reuses the old ReplicaSet");
    assert_eq!(by_name(&rs1).1, 3);
    assert_eq!(
        by_name(&rs1).4,
        "3",
        "the old ReplicaSet becomes revision 3"
    );
    assert_eq!(by_name(&rs2).1, 0, "the undone ReplicaSet is scaled to 0");
    let h = c.ok(&["rollout", "history", "deploy", DEPLOY]);
    let revs: Vec<&str> = h
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revs, ["2", "3"], "{h}");

    // Pause: a template change waits; resume rolls it out.
    assert_contains(
        &c.ok(&["rollout", "pause", "deploy", DEPLOY]),
        "deployment.apps/nginx-deployment paused",
    );
    c.ok(&[
        "set",
        "image",
        "deploy/nginx-deployment",
        "nginx=nginx:1.26",
    ]);
    wait_until(&c, 60, "the paused Deployment observed", || {
        let d = get_json(&c, &["get", "deploy", DEPLOY]);
        let paused = d["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Progressing" && c["reason"] == "DeploymentPaused")
        });
        paused && d["metadata"]["generation"] == d["status"]["observedGeneration"]
    });
    assert_eq!(
        replica_sets(&c).len(),
        2,
        "a paused Deployment creates no ReplicaSet\n{}",
        dump(&c)
    );
    assert_contains(
        &c.ok(&["rollout", "resume", "deploy", DEPLOY]),
        "deployment.apps/nginx-deployment resumed",
    );
    rollout_status(&c);
    let rss = replica_sets(&c);
    assert_eq!(rss.len(), 3, "{rss:?}");
    let rs3 = rss
        .iter()
        .find(|r| r.3 == "nginx:1.26")
        .cloned()
        .expect("a ReplicaSet for nginx:1.26");
    wait_pods_on(&c, 3, &rs3.2, "nginx:1.26");

    // Restart: a restartedAt annotation in the template, hence a new ReplicaSet.
    assert_contains(
        &c.ok(&["rollout", "restart", "deploy", DEPLOY]),
        "deployment.apps/nginx-deployment restarted",
    );
    let at = jp(
        &c,
        &[
            "get",
            "deploy",
            DEPLOY,
            "-o",
            "jsonpath={.spec.template.metadata.annotations.kubectl\\.kubernetes\\.io/restartedAt}",
        ],
    );
    assert!(!at.is_empty(), "restartedAt annotation missing");
    rollout_status(&c);
    let rss = replica_sets(&c);
    assert_eq!(rss.len(), 4, "{rss:?}");
    let rs4 = rss
        .iter()
        .find(|r| r.0 != rs1 && r.0 != rs2 && r.0 != rs3.0)
        .cloned()
        .expect("a restarted ReplicaSet");
    assert_eq!(rs4.1, 3, "{rss:?}");
    assert!(
        rss.iter().filter(|r| r.0 != rs4.0).all(|r| r.1 == 0),
        "{rss:?}"
    );
    wait_pods_on(&c, 3, &rs4.2, "nginx:1.26");
    let restarted = get_json(&c, &["get", "rs", &rs4.0]);
    assert_eq!(
        restarted["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"],
        at.as_str()
    );
    let d = get_json(&c, &["get", "deploy", DEPLOY]);
    let cond = |t: &str| {
        d["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == t).cloned())
            .unwrap_or_default()
    };
    assert_eq!(cond("Available")["status"], "True", "{d}");
    assert_eq!(
        cond("Available")["reason"],
        "MinimumReplicasAvailable",
        "{d}"
    );
    assert_eq!(
        cond("Progressing")["reason"],
        "NewReplicaSetAvailable",
        "{d}"
    );
    assert_eq!(
        cond("Progressing")["message"],
        format!("ReplicaSet \"{}\" has successfully progressed.", rs4.0).as_str()
    );
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "5"
    );
    let all: Vec<PodView> = active_pods(&c, SEL);
    assert!(
        all.iter()
            .all(|p| p.owner.as_deref() == Some(&format!("ReplicaSet/{}", rs4.0)))
    );

    if let Err(e) = spread {
        panic!("{e}");
    }
}
