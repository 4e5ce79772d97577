//! The ServiceAccount controller: a `default` ServiceAccount in every active namespace.

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, future};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::runtime::controller::{Action, Config, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::error::{ControllerError, is_conflict};

async fn reconcile(ns: Arc<Namespace>, client: Arc<Client>) -> Result<Action, ControllerError> {
    if crate::namespace::is_terminating(&ns) {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let api: Api<ServiceAccount> = Api::namespaced(client.as_ref().clone(), &name);
    if api
        .get_opt("default")
        .await
        .map_err(ControllerError::api(format!(
            "get serviceaccount {name}/default"
        )))?
        .is_some()
    {
        return Ok(Action::await_change());
    }
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some("default".into()),
            namespace: Some(name.clone()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    match api.create(&PostParams::default(), &sa).await {
        Ok(_) => info!(namespace = %name, "created default service account"),
        Err(e) if is_conflict(&e) => {}
        // A namespace that started terminating refuses new objects; its next event stops us.
        Err(e) => {
            return Err(ControllerError::api(format!(
                "create serviceaccount {name}/default"
            ))(e));
        }
    }
    Ok(Action::await_change())
}

fn error_policy(ns: Arc<Namespace>, error: &ControllerError, _client: Arc<Client>) -> Action {
    warn!(namespace = %ns.name_any(), %error, "service account reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

/// Runs the ServiceAccount controller until `stop` is cancelled.
pub async fn run(client: Client, config: Config, stop: CancellationToken) {
    let sa_api: Api<ServiceAccount> = Api::all(client.clone());
    Controller::new(
        Api::<Namespace>::all(client.clone()),
        watcher::Config::default(),
    )
    .with_config(config)
    .watches(sa_api, watcher::Config::default(), |sa| {
        (sa.name_any() == "default")
            .then(|| sa.namespace().map(|ns| ObjectRef::new(&ns)))
            .flatten()
    })
    .graceful_shutdown_on(stop.cancelled_owned())
    .run(reconcile, error_policy, Arc::new(client))
    .for_each(|_| future::ready(()))
    .await;
}
