//! End-to-end: a repeated controller event is one Event with a count, and `kubectl
//! describe` (the real binary) shows it as "(x2 over …)".

use crate::support::{Env, wait_for};

use anyhow::{Context, Result, ensure};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Namespace};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use rkube_controllers::ControllersConfig;
use serde_json::json;

/// Scaling a Deployment 2 → 0 → 2 records "Scaled up replica set … from 0 to 2" twice:
/// the second time counts on the first Event.
#[tokio::test]
async fn repeated_event_is_counted_and_described_as_x2() -> Result<()> {
    let env = Env::start(ControllersConfig::default()).await?;
    let c = env.client.clone();

    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "ev"}}))?;
    Api::<Namespace>::all(c.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let deploys: Api<Deployment> = Api::namespaced(c.clone(), "ev");
    let events: Api<Event> = Api::namespaced(c.clone(), "ev");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
        }
    }))?;
    deploys.create(&PostParams::default(), &d).await?;

    // Waits for a ScalingReplicaSet event whose message matches, with at least `count`.
    let scaling = |prefix: &'static str, count: i32| {
        let events = events.clone();
        async move {
            let list = events.list(&ListParams::default()).await?.items;
            Ok(list.into_iter().find(|e| {
                e.reason.as_deref() == Some("ScalingReplicaSet")
                    && e.message.as_deref().is_some_and(|m| m.starts_with(prefix))
                    && e.count.unwrap_or(1) >= count
            }))
        }
    };
    let first = wait_for("scaled up from 0 to 2", || scaling("Scaled up", 1)).await?;
    for (replicas, prefix) in [(0, "Scaled down"), (2, "Scaled up")] {
        deploys
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Merge(&json!({"spec": {"replicas": replicas}})),
            )
            .await?;
        if replicas == 0 {
            wait_for("scaled down to 0", || scaling(prefix, 1)).await?;
        }
    }
    let counted = wait_for("scaled up again, counted", || scaling("Scaled up", 2)).await?;
    ensure!(
        counted.name_any() == first.name_any(),
        "the repeat was counted on the first Event: {counted:?}"
    );
    ensure!(counted.first_timestamp == first.first_timestamp);
    ensure!(counted.last_timestamp >= first.last_timestamp);
    let message = counted.message.clone().unwrap_or_default();
    let same: Vec<Event> = events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.message.as_deref() == Some(message.as_str()))
        .collect();
    ensure!(same.len() == 1, "one Event per distinct message: {same:?}");

    let out = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(env.kubeconfig())
        .args(["describe", "deployment", "web", "-n", "ev"])
        .output()
        .await
        .context("run kubectl")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "kubectl describe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.contains(&message))
        .with_context(|| format!("no event line for {message:?} in:\n{stdout}"))?;
    ensure!(
        line.contains("(x2 over "),
        "not aggregated: {line:?}\n{stdout}"
    );
    Ok(())
}
