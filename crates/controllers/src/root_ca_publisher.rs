//! The root CA publisher: a `kube-root-ca.crt` ConfigMap with the cluster CA in every
//! active namespace, as upstream's controller keeps one, so that pods can verify the API
//! server (the `ca.crt` a projected service-account volume usually carries).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, future};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::error::{ControllerError, is_conflict};

/// The ConfigMap's name, as upstream.
pub const NAME: &str = "kube-root-ca.crt";
/// Upstream's description of the ConfigMap.
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

struct Ctx {
    client: Client,
    ca_pem: String,
}

/// The ConfigMap's wanted contents.
pub fn wanted(namespace: &str, ca_pem: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(NAME.into()),
            namespace: Some(namespace.into()),
            annotations: Some(BTreeMap::from([(
                "kubernetes.io/description".to_string(),
                DESCRIPTION.to_string(),
            )])),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([("ca.crt".to_string(), ca_pem.to_string())])),
        ..ConfigMap::default()
    }
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Ctx>) -> Result<Action, ControllerError> {
    if crate::namespace::is_terminating(&ns) {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &name);
    let current = api
        .get_opt(NAME)
        .await
        .map_err(ControllerError::api(format!("get configmap {name}/{NAME}")))?;
    match current {
        Some(cm) => {
            let data = cm.data.as_ref().and_then(|d| d.get("ca.crt"));
            if data.map(String::as_str) != Some(ctx.ca_pem.as_str()) {
                let patch = json!({"data": {"ca.crt": ctx.ca_pem}});
                api.patch(NAME, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .map_err(ControllerError::api(format!(
                        "update configmap {name}/{NAME}"
                    )))?;
            }
        }
        None => match api
            .create(&PostParams::default(), &wanted(&name, &ctx.ca_pem))
            .await
        {
            Ok(_) => info!(namespace = %name, "published the root CA"),
            Err(e) if is_conflict(&e) => {}
            // A namespace that started terminating refuses new objects; its next event stops us.
            Err(e) => {
                return Err(ControllerError::api(format!(
                    "create configmap {name}/{NAME}"
                ))(e));
            }
        },
    }
    Ok(Action::await_change())
}

fn error_policy(ns: Arc<Namespace>, error: &ControllerError, _ctx: Arc<Ctx>) -> Action {
    warn!(namespace = %ns.name_any(), %error, "root CA publish failed");
    Action::requeue(Duration::from_secs(5))
}

/// Runs the root CA publisher with `ca_pem` until `stop` is cancelled.
pub async fn run(client: Client, ca_pem: String, config: Config, stop: CancellationToken) {
    let cm_api: Api<ConfigMap> = Api::all(client.clone());
    let by_name = watcher::Config::default().fields(&format!("metadata.name={NAME}"));
    Controller::new(
        Api::<Namespace>::all(client.clone()),
        watcher::Config::default(),
    )
    .with_config(config)
    .watches(cm_api, by_name, |cm| {
        cm.namespace().map(|ns| ObjectRef::new(&ns))
    })
    .graceful_shutdown_on(stop.cancelled_owned())
    .run(reconcile, error_policy, Arc::new(Ctx { client, ca_pem }))
    .for_each(|_| future::ready(()))
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_map_is_upstream_s() {
        let cm = wanted("team", "PEM");
        assert_eq!(cm.metadata.name.as_deref(), Some("kube-root-ca.crt"));
        assert_eq!(cm.metadata.namespace.as_deref(), Some("team"));
        assert_eq!(cm.data.unwrap()["ca.crt"], "PEM");
        assert!(
            cm.metadata.annotations.unwrap()["kubernetes.io/description"]
                .starts_with("Contains a CA bundle")
        );
    }
}
