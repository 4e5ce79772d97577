//! The node's Lease in `kube-node-lease`: created owned by the Node, renewed
//! every 10 s (the node lifecycle controller reads it as the heartbeat).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::error::{KubeletError, is_conflict, is_not_found};

/// The namespace of node leases.
pub const NAMESPACE: &str = "kube-node-lease";

/// The Lease object of node `name` (owned by the Node with `uid`).
pub fn lease_object(name: &str, uid: &str, duration: i32, now: jiff::Timestamp) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(NAMESPACE.to_string()),
            owner_references: (!uid.is_empty()).then(|| {
                vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "Node".into(),
                    name: name.to_string(),
                    uid: uid.to_string(),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(name.to_string()),
            lease_duration_seconds: Some(duration),
            renew_time: Some(MicroTime(now)),
            ..Default::default()
        }),
    }
}

/// Renews the lease, creating it when missing.
pub async fn renew(
    client: &kube::Client,
    name: &str,
    uid: &str,
    duration: i32,
) -> Result<(), KubeletError> {
    let api: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    let now = jiff::Timestamp::now();
    let lease = lease_object(name, uid, duration, now);
    let spec = serde_json::to_value(&lease.spec).map_err(|source| KubeletError::Json {
        what: "lease",
        source,
    })?;
    match api
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": spec})),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(()),
            Err(e) if is_conflict(&e) => Ok(()),
            Err(e) => Err(KubeletError::api(format!("creating lease {name}"), e)),
        },
        Err(e) => Err(KubeletError::api(format!("renewing lease {name}"), e)),
    }
}

/// Renews the lease every `every` until `stop`; failures are retried sooner.
pub async fn run(
    client: kube::Client,
    name: String,
    uid: String,
    duration: i32,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        let wait = match renew(&client, &name, &uid, duration).await {
            Ok(()) => every,
            Err(e) => {
                tracing::warn!(error = %e, "renewing the node lease failed");
                (every / 4).max(Duration::from_millis(200))
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_shape() {
        let now = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let l = lease_object("n1", "u-1", 40, now);
        let v = serde_json::to_value(&l).unwrap();
        assert_eq!(v["spec"]["holderIdentity"], "n1");
        assert_eq!(v["spec"]["leaseDurationSeconds"], 40);
        assert_eq!(v["spec"]["renewTime"], "2023-11-14T22:13:20.000000Z");
        assert_eq!(v["metadata"]["ownerReferences"][0]["uid"], "u-1");
    }
}
