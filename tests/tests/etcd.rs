//! The kubectl scenario again with the datastore on a real etcd.

use rkube_e2e::etcd::Etcd;
use rkube_e2e::{Cluster, ServerOptions, kubectl_scenario};

#[test]
fn kubectl_scenario_on_etcd() {
    let etcd = Etcd::start();
    let c = Cluster::start_with(ServerOptions {
        datastore_endpoint: Some(etcd.endpoint.clone()),
        ..Default::default()
    });
    kubectl_scenario::run_all(&c);
    drop(c);
    drop(etcd);
}

/// A watch from a revision the datastore has compacted gets 410 Expired "too old resource version".
#[test]
fn watch_from_compacted_revision_is_gone() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = ServerOptions {
        datastore_endpoint: Some(etcd.endpoint.clone()),
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let mut c = Cluster::start_with(opts.clone());
    let first = c.ok(&[
        "create",
        "configmap",
        "a",
        "--from-literal=k=v",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    for i in 0..5 {
        c.ok(&["label", "configmap", "a", &format!("n={i}"), "--overwrite"]);
    }
    let last = c.ok(&[
        "get",
        "configmap",
        "a",
        "-o",
        "jsonpath={.metadata.resourceVersion}",
    ]);
    c.stop();
    let out = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", &etcd.endpoint, "compact", last.trim()])
        .output()
        .expect("etcdctl");
    assert!(
        out.status.success(),
        "etcdctl compact: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = Cluster::start_with(ServerOptions {
        port: Some(c.port),
        ..opts
    });
    let t = c.token();
    let path = format!(
        "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={}&timeoutSeconds=2",
        first.trim()
    );
    let r = c.raw("GET", &path, "application/json", None, Some(&t));
    assert_eq!(r.code, 200, "{}", r.text);
    let ev: serde_json::Value =
        serde_json::from_str(r.text.lines().next().unwrap_or("")).expect("event json");
    assert_eq!(ev["type"], "ERROR", "{}", r.text);
    assert_eq!(ev["object"]["code"], 410);
    assert_eq!(ev["object"]["reason"], "Expired");
    assert!(
        ev["object"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("too old resource version"),
        "{}",
        r.text
    );
}
