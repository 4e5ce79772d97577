//! SIGKILL during a stream of creates: every answered create survives, nothing is half-written,
//! and resourceVersions keep increasing after the restart.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use rkube_e2e::{Cluster, ServerOptions};

async fn client_for(c: &Cluster) -> anyhow::Result<kube::Client> {
    let kubeconfig = kube::config::Kubeconfig::read_from(&c.kubeconfig)?;
    let cfg = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    Ok(kube::Client::try_from(cfg)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_creates_survive_sigkill() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut c = Cluster::start_with(ServerOptions {
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    });
    let port = c.port;
    let client = client_for(&c).await?;
    let answered: Arc<Mutex<BTreeMap<String, i64>>> = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        let answered = answered.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0.. {
                let name = format!("cm-{w}-{i}");
                let cm: ConfigMap = serde_json::from_value(serde_json::json!({
                    "metadata": {"name": name}, "data": {"payload": "x".repeat(512)}
                }))
                .unwrap_or_default();
                match api.create(&PostParams::default(), &cm).await {
                    Ok(o) => {
                        let rv = o
                            .metadata
                            .resource_version
                            .and_then(|r| r.parse().ok())
                            .unwrap_or(0);
                        answered.lock().map(|mut m| m.insert(name, rv)).ok();
                    }
                    Err(_) => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    c.kill_hard();
    for t in tasks {
        let _ = t.await;
    }
    let answered = answered.lock().map(|m| m.clone()).unwrap_or_default();
    assert!(
        answered.len() > 50,
        "too few creates before the kill: {}",
        answered.len()
    );
    let max_rv = answered.values().copied().max().unwrap_or(0);

    let c2 = Cluster::start_with(ServerOptions {
        data_dir: Some(dir.path().to_path_buf()),
        port: Some(port),
        ..Default::default()
    });
    let client = client_for(&c2).await?;
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let list = api.list(&ListParams::default()).await?;
    let present: BTreeMap<String, ConfigMap> = list
        .items
        .into_iter()
        .filter_map(|cm| cm.metadata.name.clone().map(|n| (n, cm)))
        .collect();
    for name in answered.keys() {
        assert!(
            present.contains_key(name),
            "answered create {name} lost after SIGKILL"
        );
    }
    for (name, cm) in &present {
        if name.starts_with("cm-") {
            let payload = cm
                .data
                .as_ref()
                .and_then(|d| d.get("payload"))
                .map(String::len);
            assert_eq!(payload, Some(512), "{name} is half-written");
        }
    }
    let fresh: ConfigMap =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "after-restart"}}))?;
    let created = api.create(&PostParams::default(), &fresh).await?;
    let rv: i64 = created
        .metadata
        .resource_version
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    assert!(
        rv > max_rv,
        "resourceVersion went backwards: {rv} <= {max_rv}"
    );
    Ok(())
}
