//! Story 5: a StatefulSet comes up in ordinal order with a PVC per pod and scales down from
//! the highest ordinal.

use std::time::Duration;

use rkube_e2e::Cluster;
use rkube_e2e::story::{
    ManifestDir, assert_contains, dump, get_json, pods, wait_nodes_ready, wait_until,
};

const MANIFEST: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: web-sts
spec:
  clusterIP: None
  selector:
    app: web-sts
  ports:
  - port: 80
    name: web
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web-sts
  replicas: 3
  selector:
    matchLabels:
      app: web-sts
  template:
    metadata:
      labels:
        app: web-sts
    spec:
      containers:
      - name: nginx
        image: nginx
        volumeMounts:
        - name: www
          mountPath: /usr/share/nginx/html
  volumeClaimTemplates:
  - metadata:
      name: www
    spec:
      accessModes: ["ReadWriteOnce"]
      resources:
        requests:
          storage: 1Gi
"#;

const SEL: &str = "app=web-sts";

fn epoch(ts: &str) -> i64 {
    ts.parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("timestamp {ts:?}: {e}"))
        .as_second()
}

#[test]
fn statefulset_ordered_up_and_down_with_claims() {
    let c = Cluster::start();
    // Pods turn Ready a second after they start, so each ordinal is created at least a
    // second after the one before it.
    let _agent = c.simulate_nodes_with("sim-", 2, &["--sim-ready-delay", "1"]);
    wait_nodes_ready(&c, &["sim-0000", "sim-0001"]);
    let dir = ManifestDir::new();
    let f = dir.write("sts.yaml", MANIFEST);
    let out = c.ok(&["apply", "-f", &f]);
    assert_contains(&out, "service/web-sts created");
    assert_contains(&out, "statefulset.apps/web created");
    wait_until(&c, 90, "3 ready StatefulSet pods", || {
        let v = get_json(&c, &["get", "sts", "web"]);
        v["status"]["readyReplicas"] == 3 && v["status"]["availableReplicas"] == 3
    });
    let out = c.ok(&["rollout", "status", "sts", "web", "--timeout=60s"]);
    assert_contains(
        &out,
        "partitioned roll out complete: 3 new pods have been updated",
    );

    // Created 0, 1, 2: each one after the previous one became Ready.
    let mut ps = pods(&c, SEL);
    ps.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> = ps.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["web-0", "web-1", "web-2"]);
    for pair in ps.windows(2) {
        let (prev, next) = (&pair[0], &pair[1]);
        assert!(
            epoch(&prev.created) < epoch(&next.created),
            "{} should be created after {}: {} vs {}",
            next.name,
            prev.name,
            next.created,
            prev.created
        );
        let ready_at = get_json(&c, &["get", "pod", &prev.name])["status"]["conditions"]
            .as_array()
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c["type"] == "Ready")
                    .and_then(|c| c["lastTransitionTime"].as_str().map(str::to_owned))
            })
            .expect("Ready condition");
        assert!(
            epoch(&ready_at) <= epoch(&next.created),
            "{} created ({}) before {} was Ready ({ready_at})",
            next.name,
            next.created,
            prev.name
        );
    }
    for (i, p) in ps.iter().enumerate() {
        let v = get_json(&c, &["get", "pod", &p.name]);
        assert_eq!(v["spec"]["hostname"], p.name.as_str());
        assert_eq!(v["spec"]["subdomain"], "web-sts");
        assert_eq!(
            v["metadata"]["labels"]["apps.kubernetes.io/pod-index"],
            i.to_string().as_str()
        );
        let claim = v["spec"]["volumes"]
            .as_array()
            .and_then(|vs| vs.iter().find(|v| v["name"] == "www"))
            .map(|v| v["persistentVolumeClaim"]["claimName"].clone());
        assert_eq!(
            claim,
            Some(format!("www-web-{i}").into()),
            "pod {} mounts its own claim",
            p.name
        );
    }
    let pvcs = c.ok(&["get", "pvc", "-o", "name"]);
    let mut pvcs: Vec<&str> = pvcs.lines().collect();
    pvcs.sort();
    assert_eq!(
        pvcs,
        [
            "persistentvolumeclaim/www-web-0",
            "persistentvolumeclaim/www-web-1",
            "persistentvolumeclaim/www-web-2"
        ]
    );

    // Scaled to 1: web-2 goes, and only once it is gone does web-1 go.
    let watch = c.watch(&[
        "get",
        "pods",
        "-l",
        SEL,
        "-w",
        "--output-watch-events",
        "-o",
        "jsonpath={.type} {.object.metadata.name} {.object.metadata.deletionTimestamp}{\"\\n\"}",
    ]);
    assert!(
        watch.wait_for(Duration::from_secs(30), |l| l.len() >= 3),
        "the watch should list the 3 pods: {:?}",
        watch.lines()
    );
    assert_contains(
        &c.ok(&["scale", "sts", "web", "--replicas=1"]),
        "statefulset.apps/web scaled",
    );
    wait_until(&c, 90, "only web-0 left", || {
        let names: Vec<String> = pods(&c, SEL).into_iter().map(|p| p.name).collect();
        names == ["web-0"]
    });
    assert!(
        watch.wait_for(Duration::from_secs(10), |l| l
            .iter()
            .any(|l| l.starts_with("DELETED web-1"))),
        "{:?}",
        watch.lines()
    );
    let lines = watch.lines();
    let pos = |pred: &dyn Fn(&str) -> bool| lines.iter().position(|l| pred(l));
    let web2_gone = pos(&|l| l.starts_with("DELETED web-2")).expect("web-2 deleted");
    let web1_deleting = pos(&|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.len() == 3 && w[1] == "web-1"
    })
    .expect("web-1 marked for deletion");
    assert!(
        web2_gone < web1_deleting,
        "web-1 should be deleted only after web-2 is gone: {lines:?}\n{}",
        dump(&c)
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains(" web-0 ") && l.split_whitespace().count() == 3),
        "web-0 stays: {lines:?}"
    );
    let v = get_json(&c, &["get", "sts", "web"]);
    assert_eq!(v["status"]["replicas"], 1);
    let d = c.ok(&["describe", "sts", "web"]);
    for s in [
        "create Claim www-web-0 Pod web-0 in StatefulSet web success",
        "create Pod web-0 in StatefulSet web successful",
        "create Pod web-2 in StatefulSet web successful",
        "delete Pod web-2 in StatefulSet web successful",
        "delete Pod web-1 in StatefulSet web successful",
        "statefulset-controller",
    ] {
        assert_contains(&d, s);
    }
    // The claims stay (the default retention policy is Retain).
    assert_eq!(c.ok(&["get", "pvc", "-o", "name"]).lines().count(), 3);
}
