//! End-to-end: the StatefulSet controller in-process against a real `rkube server` with no
//! nodes; the test marks pods Running and Ready itself by patching pods/status.

use crate::support::{Env, wait_for};

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Namespace, PersistentVolumeClaim, Pod};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use rkube_controllers::ControllersConfig;
use serde_json::json;

async fn start() -> Result<Env> {
    let env = Env::start(ControllersConfig::default()).await?;
    Ok(env)
}

async fn pod_names(pods: &Api<Pod>) -> Result<Vec<String>> {
    let mut names: Vec<String> = pods
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    names.sort();
    Ok(names)
}

async fn mark_ready(pods: &Api<Pod>, name: &str) -> Result<()> {
    let now = jiff::Timestamp::now().to_string();
    let patch = json!({"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": now}]}});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

async fn wait_pod(pods: &Api<Pod>, name: &str) -> Result<Pod> {
    let n = name.to_owned();
    wait_for(&format!("pod {name}"), || {
        let (pods, n) = (pods.clone(), n.clone());
        async move { Ok(pods.get_opt(&n).await?) }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statefulset_ordered_create_pvcs_and_ordered_scale_down() -> Result<()> {
    let env = start().await?;
    let c = env.client.clone();
    let ns = "sts";
    Api::<Namespace>::all(c.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}}))?,
        )
        .await?;
    let sets: Api<StatefulSet> = Api::namespaced(c.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(c.clone(), ns);
    let set: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 3, "serviceName": "nginx",
                 "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"],
                             "resources": {"requests": {"storage": "1Gi"}}}}]}
    }))?;
    sets.create(&PostParams::default(), &set).await?;

    // web-0 first; web-1 is not created while web-0 is not Ready.
    let p0 = wait_pod(&pods, "web-0").await?;
    assert_eq!(pod_names(&pods).await?, ["web-0"]);
    assert_eq!(p0.labels()["statefulset.kubernetes.io/pod-name"], "web-0");
    assert_eq!(p0.labels()["apps.kubernetes.io/pod-index"], "0");
    assert!(p0.labels().contains_key("controller-revision-hash"));
    let spec = p0.spec.clone().unwrap_or_default();
    assert_eq!(spec.hostname.as_deref(), Some("web-0"));
    assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
    let owner = &p0.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("StatefulSet", Some(true))
    );
    mark_ready(&pods, "web-0").await?;

    wait_pod(&pods, "web-1").await?;
    assert_eq!(pod_names(&pods).await?, ["web-0", "web-1"]);
    mark_ready(&pods, "web-1").await?;
    wait_pod(&pods, "web-2").await?;
    mark_ready(&pods, "web-2").await?;

    // PVCs from the claim template, retained by default (no owner references).
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(c.clone(), ns);
    for i in 0..3 {
        let pvc = pvcs.get(&format!("data-web-{i}")).await?;
        assert!(pvc.owner_references().is_empty(), "{pvc:?}");
    }

    // Status, ControllerRevision and the creation event.
    let st = wait_for("status readyReplicas 3", || {
        let sets = sets.clone();
        async move {
            let s = sets.get("web").await?.status.unwrap_or_default();
            Ok((s.ready_replicas == Some(3) && s.updated_replicas == Some(3)).then_some(s))
        }
    })
    .await?;
    assert_eq!(st.replicas, 3);
    assert_eq!(st.current_revision, st.update_revision);
    let rev = st.update_revision.clone().unwrap_or_default();
    assert_eq!(p0.labels()["controller-revision-hash"], rev);
    let revs: Api<ControllerRevision> = Api::namespaced(c.clone(), ns);
    assert!(revs.get_opt(&rev).await?.is_some());
    let events: Api<Event> = Api::namespaced(c.clone(), ns);
    wait_for("SuccessfulCreate event", || {
        let events = events.clone();
        async move {
            let list = events.list(&ListParams::default()).await?;
            Ok(list
                .items
                .iter()
                .any(|e| {
                    e.reason.as_deref() == Some("SuccessfulCreate")
                        && e.message.as_deref()
                            == Some("create Pod web-0 in StatefulSet web successful")
                })
                .then_some(()))
        }
    })
    .await?;

    // Scale to 1: web-2 goes before web-1.
    sets.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"replicas": 1}})),
    )
    .await?;
    let start = Instant::now();
    loop {
        let names = pod_names(&pods).await?;
        let has = |n: &str| names.iter().any(|x| x == n);
        assert!(
            !has("web-2") || has("web-1"),
            "web-1 deleted before web-2: {names:?}"
        );
        assert!(has("web-0"), "{names:?}");
        if names == ["web-0"] {
            break;
        }
        if start.elapsed() > Duration::from_secs(40) {
            bail!("scale down did not finish: {names:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // PVCs are retained on scale down.
    assert!(pvcs.get_opt("data-web-2").await?.is_some());
    drop(env);
    Ok(())
}
