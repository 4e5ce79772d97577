//! The namespace controller: empties a namespace being deleted, then finalizes it.

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, future};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, DynamicObject, ListParams, PostParams};
use kube::core::discovery::{Scope, verbs};
use kube::discovery::Discovery;
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::error::{ControllerError, is_not_found};

/// Whether a namespace is going away (deleted, or its phase already Terminating):
/// controllers put nothing new into it.
pub fn is_terminating(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_some()
        || ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating")
}

/// The finalizer the namespace controller owns.
pub const KUBERNETES_FINALIZER: &str = "kubernetes";

/// Deletes every namespaced object in `ns`; returns how many objects still exist.
async fn delete_contents(client: &Client, ns: &str) -> Result<usize, ControllerError> {
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .map_err(ControllerError::api("discovery"))?;
    let mut remaining = 0;
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if caps.scope != Scope::Namespaced
                || !caps.supports_operation(verbs::LIST)
                || !caps.supports_operation(verbs::DELETE)
            {
                continue;
            }
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
            let list = match api.list_metadata(&ListParams::default()).await {
                Ok(l) => l,
                Err(e) if is_not_found(&e) => continue,
                Err(e) => {
                    return Err(ControllerError::api(format!("list {} in {ns}", ar.plural))(
                        e,
                    ));
                }
            };
            for item in list.items {
                remaining += 1;
                if item.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                let name = item.name_any();
                debug!(namespace = ns, resource = %ar.plural, %name, "deleting");
                match api.delete(&name, &DeleteParams::background()).await {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => {
                        return Err(ControllerError::api(format!(
                            "delete {} {ns}/{name}",
                            ar.plural
                        ))(e));
                    }
                }
            }
        }
    }
    Ok(remaining)
}

async fn reconcile(ns: Arc<Namespace>, client: Arc<Client>) -> Result<Action, ControllerError> {
    if ns.metadata.deletion_timestamp.is_none() {
        return Ok(Action::await_change());
    }
    let finalizers = ns
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.clone())
        .unwrap_or_default();
    let name = ns.name_any();
    let api: Api<Namespace> = Api::all(client.as_ref().clone());
    let mut remaining_finalizers = finalizers.clone();
    if finalizers.iter().any(|f| f == KUBERNETES_FINALIZER) {
        let remaining = delete_contents(&client, &name).await?;
        if remaining > 0 {
            debug!(namespace = %name, remaining, "waiting for namespace contents to go");
            return Ok(Action::requeue(Duration::from_millis(500)));
        }
        remaining_finalizers.retain(|f| f != KUBERNETES_FINALIZER);
        let mut finalized = ns.as_ref().clone();
        if let Some(spec) = finalized.spec.as_mut() {
            spec.finalizers = Some(remaining_finalizers.clone());
        }
        match api
            .replace_subresource("finalize", &name, &PostParams::default(), &finalized)
            .await
        {
            Ok(_) => info!(namespace = %name, "namespace emptied and finalized"),
            Err(e) if is_not_found(&e) => return Ok(Action::await_change()),
            Err(e) => {
                return Err(ControllerError::api(format!("finalize namespace {name}"))(
                    e,
                ));
            }
        }
    }
    // Finalized (by us or by whoever removed the last spec finalizer): as upstream's
    // namespace controller, delete it again, which now removes it.
    if remaining_finalizers.is_empty() {
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(ControllerError::api(format!("delete namespace {name}"))(e));
            }
        }
    }
    Ok(Action::await_change())
}

fn error_policy(ns: Arc<Namespace>, error: &ControllerError, _client: Arc<Client>) -> Action {
    warn!(namespace = %ns.name_any(), %error, "namespace reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

/// Runs the namespace controller until `stop` is cancelled.
pub async fn run(client: Client, config: Config, stop: CancellationToken) {
    Controller::new(
        Api::<Namespace>::all(client.clone()),
        watcher::Config::default(),
    )
    .with_config(config)
    .graceful_shutdown_on(stop.cancelled_owned())
    .run(reconcile, error_policy, Arc::new(client))
    .for_each(|_| future::ready(()))
    .await;
}
