//! Node leases in `kube-node-lease`: creating them and renewing them.

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::config::SimConfig;

/// The namespace of node leases.
pub const NAMESPACE: &str = "kube-node-lease";

/// Formats `t` as the API's `MicroTime`.
pub fn micro_time(t: jiff::Timestamp) -> String {
    jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%S.%6fZ", t).unwrap_or_else(|_| t.to_string())
}

/// The lease of node `name` (owned by the Node with `uid`, when known).
pub fn lease_object(config: &SimConfig, name: &str, uid: &str, now: jiff::Timestamp) -> Value {
    let mut v = json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": config.lease_duration_seconds,
            "renewTime": micro_time(now),
        },
    });
    if !uid.is_empty() {
        v["metadata"]["ownerReferences"] =
            json!([{"apiVersion": "v1", "kind": "Node", "name": name, "uid": uid}]);
    }
    v
}

/// Renews the lease of node `name`, creating it when it does not exist.
pub async fn ensure(
    client: &kube::Client,
    config: &SimConfig,
    name: &str,
    uid: &str,
) -> Result<(), kube::Error> {
    let api: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    let now = jiff::Timestamp::now();
    let patch = json!({"spec": {
        "holderIdentity": name,
        "leaseDurationSeconds": config.lease_duration_seconds,
        "renewTime": micro_time(now),
    }});
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            let lease: Lease = serde_json::from_value(lease_object(config, name, uid, now))
                .map_err(kube::Error::SerdeError)?;
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_shape() {
        let now = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let v = lease_object(&SimConfig::default(), "sim-0001", "u-1", now);
        let l: Lease = serde_json::from_value(v).unwrap();
        let spec = l.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("sim-0001"));
        assert_eq!(spec.lease_duration_seconds, Some(40));
        assert_eq!(micro_time(now), "2023-11-14T22:13:20.000000Z");
        assert_eq!(l.metadata.owner_references.unwrap()[0].uid, "u-1");
    }
}
