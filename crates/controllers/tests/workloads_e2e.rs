//! End-to-end: a real `rkube server`, the controllers in-process, checks through the API.

use crate::support::{Env, make_ns, wait_for};

use std::time::Duration;

use anyhow::{Context, Result};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Pod, ReplicationController};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::{Api, Client, ResourceExt};
use rkube_controllers::ControllersConfig;
use serde_json::json;
use tokio_util::sync::CancellationToken;

async fn start() -> Result<Env> {
    let env = Env::start(ControllersConfig::default()).await?;
    tokio::spawn(fake_kubelet(env.client.clone(), env.stop.clone()));
    Ok(env)
}

/// Marks every pod Running and Ready, standing in for a kubelet.
async fn fake_kubelet(client: Client, stop: CancellationToken) {
    let pods: Api<Pod> = Api::all(client);
    while !stop.is_cancelled() {
        if let Ok(list) = pods.list(&ListParams::default()).await {
            for p in list.items {
                let ready = p
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready"));
                if ready || p.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                let api: Api<Pod> = Api::namespaced(
                    pods.clone().into_client(),
                    &p.namespace().unwrap_or_default(),
                );
                let patch = json!({"status": {"phase": "Running", "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": jiff_now()}]}});
                let _ = api
                    .patch_status(
                        &p.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn jiff_now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn deployment(name: &str, replicas: i32, image: &str) -> Result<Deployment> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "c", "image": image}]}}
        }
    }))?)
}

async fn live_pods(client: &Client, ns: &str) -> Result<Vec<Pod>> {
    let list = Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect())
}

async fn pods_of(client: &Client, ns: &str, owner_uid: &str) -> Result<Vec<Pod>> {
    Ok(live_pods(client, ns)
        .await?
        .into_iter()
        .filter(|p| {
            p.owner_references()
                .iter()
                .any(|r| r.uid == owner_uid && r.controller == Some(true))
        })
        .collect())
}

const ALPHABET: &str = "bcdfghjklmnpqrstvwxz2456789";

#[tokio::test]
async fn deployment_scale_rollout_and_background_delete() -> Result<()> {
    let env = start().await?;
    let c = env.client.clone();
    make_ns(&c, "web").await?;
    let deploys: Api<Deployment> = Api::namespaced(c.clone(), "web");
    let rss: Api<ReplicaSet> = Api::namespaced(c.clone(), "web");
    deploys
        .create(
            &PostParams::default(),
            &deployment("nginx", 2, "nginx:1.0")?,
        )
        .await?;

    let rs = wait_for("first replica set", || async {
        Ok(rss
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .next())
    })
    .await?;
    let rs_name = rs.name_any();
    let hash = rs
        .labels()
        .get("pod-template-hash")
        .cloned()
        .context("hash label")?;
    assert_eq!(rs_name, format!("nginx-{hash}"));
    let rs_uid = rs.uid().context("uid")?;
    let pods = wait_for("2 pods", || async {
        let p = pods_of(&c, "web", &rs_uid).await?;
        Ok((p.len() == 2).then_some(p))
    })
    .await?;
    for p in &pods {
        let suffix = p
            .name_any()
            .strip_prefix(&format!("{rs_name}-"))
            .map(str::to_owned)
            .context("pod prefix")?;
        assert_eq!(suffix.len(), 5);
        assert!(suffix.chars().all(|ch| ALPHABET.contains(ch)), "{suffix}");
    }

    for n in [5, 3] {
        deploys
            .patch(
                "nginx",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": n}})),
            )
            .await?;
        wait_for("scaled pods", || async {
            Ok((pods_of(&c, "web", &rs_uid).await?.len() == n).then_some(()))
        })
        .await?;
    }
    wait_for("rollout complete", || async {
        let d = deploys.get("nginx").await?;
        let s = d.status.unwrap_or_default();
        Ok((s.available_replicas == Some(3) && s.updated_replicas == Some(3)).then_some(()))
    })
    .await?;

    // Rolling update: never more than replicas + maxSurge pods scheduled for.
    deploys
        .patch("nginx", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2.0"}]}}}})))
        .await?;
    wait_for("rollout to the new template", || async {
        let list = rss.list(&ListParams::default()).await?.items;
        let total: i32 = list
            .iter()
            .map(|r| r.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0))
            .sum();
        assert!(total <= 4, "maxSurge exceeded: {total}");
        let d = deploys.get("nginx").await?;
        let s = d.status.clone().unwrap_or_default();
        let observed = s.observed_generation >= d.metadata.generation;
        let progressing = s
            .conditions
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "Progressing");
        let done = observed
            && list.len() == 2
            && list
                .iter()
                .filter(|r| r.spec.as_ref().and_then(|s| s.replicas) == Some(0))
                .count()
                == 1
            && s.updated_replicas == Some(3)
            && s.available_replicas == Some(3)
            && s.replicas == Some(3)
            && progressing.and_then(|c| c.reason).as_deref() == Some("NewReplicaSetAvailable")
            && d.annotations()
                .get("deployment.kubernetes.io/revision")
                .map(String::as_str)
                == Some("2");
        Ok(done.then_some(()))
    })
    .await?;
    let old = rss.get(&rs_name).await?;
    assert_eq!(old.spec.and_then(|s| s.replicas), Some(0));
    assert_eq!(
        old.metadata
            .annotations
            .unwrap_or_default()
            .get("deployment.kubernetes.io/revision")
            .map(String::as_str),
        Some("1")
    );

    // Undo (as kubectl 1.33 does it): the old template comes back, so does the old RS.
    deploys
        .patch(
            "nginx",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.0"}]}}}})),
        )
        .await?;
    wait_for("undo back to the first replica set", || async {
        let old = rss.get(&rs_name).await?;
        let rev = old
            .annotations()
            .get("deployment.kubernetes.io/revision")
            .cloned();
        let d = deploys.get("nginx").await?;
        let s = d.status.clone().unwrap_or_default();
        let observed = s.observed_generation >= d.metadata.generation;
        let done = observed
            && old.spec.and_then(|s| s.replicas) == Some(3)
            && rev.as_deref() == Some("3")
            && s.updated_replicas == Some(3)
            && s.available_replicas == Some(3)
            && s.replicas == Some(3);
        Ok(done.then_some(()))
    })
    .await?;

    let events = Api::<Event>::namespaced(c.clone(), "web")
        .list(&ListParams::default())
        .await?
        .items;
    let msgs: Vec<String> = events.iter().filter_map(|e| e.message.clone()).collect();
    assert!(
        msgs.contains(&format!("Scaled up replica set {rs_name} from 0 to 2")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.starts_with(&format!("Created pod: {rs_name}-")))
    );

    // Background deletion: the collector removes replica sets and pods.
    deploys.delete("nginx", &DeleteParams::background()).await?;
    wait_for("everything collected", || async {
        let rs_left = rss.list(&ListParams::default()).await?.items.len();
        let pods_left = live_pods(&c, "web").await?.len();
        Ok((rs_left == 0 && pods_left == 0).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn replication_controller_orphan_and_foreground() -> Result<()> {
    let env = start().await?;
    let c = env.client.clone();
    make_ns(&c, "gc").await?;
    let rcs: Api<ReplicationController> = Api::namespaced(c.clone(), "gc");
    let rc: ReplicationController = serde_json::from_value(json!({
        "metadata": {"name": "rc"},
        "spec": {"replicas": 3, "selector": {"app": "rc"},
                 "template": {"metadata": {"labels": {"app": "rc"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}
    }))?;
    let rc = rcs.create(&PostParams::default(), &rc).await?;
    let rc_uid = rc.uid().context("uid")?;
    let pods = wait_for("3 rc pods", || async {
        let p = pods_of(&c, "gc", &rc_uid).await?;
        Ok((p.len() == 3).then_some(p))
    })
    .await?;
    let pod_api: Api<Pod> = Api::namespaced(c.clone(), "gc");
    pod_api
        .delete(&pods[0].name_any(), &DeleteParams::default())
        .await?;
    wait_for("rc replaces the pod", || async {
        let p = pods_of(&c, "gc", &rc_uid).await?;
        Ok((p.len() == 3 && p.iter().all(|x| x.name_any() != pods[0].name_any())).then_some(()))
    })
    .await?;
    wait_for("rc status", || async {
        let s = rcs.get("rc").await?.status.unwrap_or_default();
        Ok((s.replicas == 3 && s.ready_replicas == Some(3)).then_some(()))
    })
    .await?;

    // Orphan: the pods stay, without owner references.
    rcs.delete(
        "rc",
        &DeleteParams {
            propagation_policy: Some(PropagationPolicy::Orphan),
            ..Default::default()
        },
    )
    .await?;
    wait_for("rc gone, pods orphaned", || async {
        let gone = rcs.get_opt("rc").await?.is_none();
        let pods = live_pods(&c, "gc").await?;
        Ok(
            (gone && pods.len() == 3 && pods.iter().all(|p| p.owner_references().is_empty()))
                .then_some(()),
        )
    })
    .await?;

    // Foreground: dependents first, then the owner.
    let deploys: Api<Deployment> = Api::namespaced(c.clone(), "gc");
    deploys
        .create(&PostParams::default(), &deployment("fg", 2, "x")?)
        .await?;
    let d_uid = deploys.get("fg").await?.uid().context("uid")?;
    wait_for("fg pods", || async {
        let n = live_pods(&c, "gc")
            .await?
            .iter()
            .filter(|p| p.labels().get("app").map(String::as_str) == Some("fg"))
            .count();
        Ok((n == 2).then_some(()))
    })
    .await?;
    deploys.delete("fg", &DeleteParams::foreground()).await?;
    wait_for("foreground deletion finished", || async {
        let d = deploys.get_opt("fg").await?;
        if let Some(d) = &d {
            assert_eq!(d.uid().as_deref(), Some(d_uid.as_str()));
        }
        let left = live_pods(&c, "gc")
            .await?
            .iter()
            .filter(|p| p.labels().get("app").map(String::as_str) == Some("fg"))
            .count();
        let rs_left = Api::<ReplicaSet>::namespaced(c.clone(), "gc")
            .list(&ListParams::default())
            .await?
            .items
            .len();
        Ok((d.is_none() && left == 0 && rs_left == 0).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn namespace_deletion_empties_then_removes_namespace() -> Result<()> {
    let env = start().await?;
    let c = env.client.clone();
    make_ns(&c, "doomed").await?;
    let deploys: Api<Deployment> = Api::namespaced(c.clone(), "doomed");
    deploys
        .create(&PostParams::default(), &deployment("app", 2, "x")?)
        .await?;
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "cfg"}, "data": {"a": "b"}}))?;
    Api::<ConfigMap>::namespaced(c.clone(), "doomed")
        .create(&PostParams::default(), &cm)
        .await?;
    wait_for("pods", || async {
        Ok((live_pods(&c, "doomed").await?.len() == 2).then_some(()))
    })
    .await?;
    wait_for("default service account", || async {
        Ok(
            Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(c.clone(), "doomed")
                .get_opt("default")
                .await?,
        )
    })
    .await?;
    let nss: Api<Namespace> = Api::all(c.clone());
    nss.delete("doomed", &DeleteParams::default()).await?;
    wait_for("namespace gone", || async {
        Ok(nss.get_opt("doomed").await?.is_none().then_some(()))
    })
    .await?;
    let pods = Api::<Pod>::namespaced(c.clone(), "doomed")
        .list(&ListParams::default())
        .await?;
    assert!(pods.items.is_empty());
    Ok(())
}
