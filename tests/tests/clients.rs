//! The same create/get/list/watch/patch/delete scenario through the Python client and kube-rs.

use std::process::Command;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use rkube_e2e::Cluster;
use rkube_e2e::cluster::workspace_root;

#[test]
fn python_client_scenario() {
    let c = Cluster::start();
    let script = workspace_root().join("tests/python/client_scenario.py");
    let out = Command::new("python3")
        .arg(&script)
        .env("KUBECONFIG", &c.kubeconfig)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python scenario failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn kube_rs_scenario() -> anyhow::Result<()> {
    let c = Cluster::start();
    let kubeconfig = kube::config::Kubeconfig::read_from(&c.kubeconfig)?;
    let cfg = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    let client = kube::Client::try_from(cfg)?;

    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "kubers"}}))?;
    namespaces.create(&PostParams::default(), &ns).await?;

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "kubers");
    let list = cms.list(&ListParams::default()).await?;
    let rv = list.metadata.resource_version.clone().unwrap_or_default();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(20), &rv)
        .await?
        .boxed();

    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "c1", "labels": {"app": "rs"}}, "data": {"a": "1"}
    }))?;
    let created = cms.create(&PostParams::default(), &cm).await?;
    assert!(created.metadata.uid.is_some());
    let got = cms.get("c1").await?;
    assert_eq!(
        got.data
            .clone()
            .unwrap_or_default()
            .get("a")
            .map(String::as_str),
        Some("1")
    );
    let listed = cms.list(&ListParams::default().labels("app=rs")).await?;
    assert_eq!(listed.items.len(), 1);
    let patched = cms
        .patch(
            "c1",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"b": "2"}})),
        )
        .await?;
    assert_eq!(patched.data.unwrap_or_default().len(), 2);
    let stale = ConfigMap {
        metadata: kube::api::ObjectMeta {
            resource_version: created.metadata.resource_version.clone(),
            ..got.metadata.clone()
        },
        ..got.clone()
    };
    let conflict = cms.replace("c1", &PostParams::default(), &stale).await;
    assert!(
        matches!(conflict, Err(kube::Error::Api(ref e)) if e.code == 409),
        "{conflict:?}"
    );
    cms.delete("c1", &DeleteParams::default()).await?;
    assert!(matches!(cms.get("c1").await, Err(kube::Error::Api(ref e)) if e.code == 404));

    // Only c1's events: the namespace also gets upstream's kube-root-ca.crt.
    let mut kinds = Vec::new();
    let is_c1 = |cm: &ConfigMap| cm.metadata.name.as_deref() == Some("c1");
    while let Some(ev) = stream.try_next().await? {
        match ev {
            WatchEvent::Added(cm) if is_c1(&cm) => kinds.push("ADDED"),
            WatchEvent::Modified(cm) if is_c1(&cm) => kinds.push("MODIFIED"),
            WatchEvent::Deleted(cm) if is_c1(&cm) => {
                kinds.push("DELETED");
                break;
            }
            WatchEvent::Added(_) | WatchEvent::Modified(_) | WatchEvent::Deleted(_) => {}
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => anyhow::bail!("watch error: {e:?}"),
        }
    }
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);
    Ok(())
}
