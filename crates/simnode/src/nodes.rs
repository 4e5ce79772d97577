//! The Node objects of simulated nodes: their shape, their status, and registering them.

use std::net::Ipv4Addr;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::clock::format_ts;
use crate::config::SimConfig;
use crate::error::SimError;
use crate::fleet::NodeSlot;
use crate::ipam::{Cidr, default_pod_cidr, node_ip};
use crate::lease;

/// Reported as `status.nodeInfo.kubeletVersion`.
pub const KUBELET_VERSION: &str = "v1.33.0";
/// Reported as `status.nodeInfo.containerRuntimeVersion`.
pub const RUNTIME_VERSION: &str = "rkube-sim://0.1.0";
/// Ephemeral storage every simulated node offers.
pub const EPHEMERAL_STORAGE: &str = "1Ti";

/// The labels of a simulated node: the standard ones plus the configured ones.
pub fn labels(config: &SimConfig, name: &str) -> Value {
    let mut l = json!({
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
        "type": "simulated",
    });
    for (k, v) in &config.labels {
        l[k] = json!(v);
    }
    l
}

/// The four node conditions, all healthy, with heartbeat `now` and transition `since`.
pub fn conditions(now: jiff::Timestamp, since: jiff::Timestamp) -> Value {
    let (now, since) = (format_ts(now), format_ts(since));
    let c = |ty: &str, status: &str, reason: &str, message: &str| {
        json!({"type": ty, "status": status, "reason": reason, "message": message,
               "lastHeartbeatTime": now, "lastTransitionTime": since})
    };
    json!([
        c(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available"
        ),
        c(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure"
        ),
        c(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available"
        ),
        c(
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status"
        ),
    ])
}

/// The full `status` of a simulated node.
pub fn status(
    config: &SimConfig,
    name: &str,
    ip: Ipv4Addr,
    now: jiff::Timestamp,
    since: jiff::Timestamp,
) -> Value {
    let resources = json!({
        "cpu": config.cpu,
        "memory": config.memory,
        "pods": config.pods.to_string(),
        "ephemeral-storage": EPHEMERAL_STORAGE,
    });
    json!({
        "capacity": resources,
        "allocatable": resources,
        "conditions": conditions(now, since),
        "addresses": [
            {"type": "InternalIP", "address": ip.to_string()},
            {"type": "Hostname", "address": name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": name,
            "systemUUID": name,
            "bootID": name,
            "kernelVersion": "6.0.0-rkube-sim",
            "osImage": "rkube simulated node",
            "containerRuntimeVersion": RUNTIME_VERSION,
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    })
}

/// The Node object created for simulated node `name`.
pub fn node_object(config: &SimConfig, name: &str, ip: Ipv4Addr, now: jiff::Timestamp) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels(config, name),
            "annotations": {"node.alpha.kubernetes.io/ttl": "0", "rkube.io/simulated": "true"},
        },
        "spec": {"taints": config.taints},
        "status": status(config, name, ip, now, now),
    })
}

fn pod_cidr(node: &Node) -> Option<Cidr> {
    let spec = node.spec.as_ref()?;
    let cidrs = spec.pod_cidrs.iter().flatten().chain(spec.pod_cidr.iter());
    cidrs.filter_map(|c| Cidr::parse(c)).next()
}

/// Creates node `index` (or adopts an existing one with that name), settles
/// its pod CIDR, posts its status and creates its lease.
async fn register_one(
    client: &kube::Client,
    config: &SimConfig,
    index: u32,
) -> Result<NodeSlot, kube::Error> {
    let name = config.node_name(index);
    let ip = node_ip(index);
    let now = jiff::Timestamp::now();
    let api: Api<Node> = Api::all(client.clone());
    let obj: Node = serde_json::from_value(node_object(config, &name, ip, now))
        .map_err(kube::Error::SerdeError)?;
    let node = match api.create(&PostParams::default(), &obj).await {
        Ok(n) => n,
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let patch = json!({"metadata": {"labels": labels(config, &name)}});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?
        }
        Err(e) => return Err(e),
    };
    let cidr = match pod_cidr(&node) {
        Some(c) => c,
        None => {
            let fallback = default_pod_cidr(index).unwrap_or(Cidr {
                network: Ipv4Addr::new(10, 42, 0, 0),
                prefix: 24,
            });
            let c = fallback.to_string();
            let patch = json!({"spec": {"podCIDR": c, "podCIDRs": [c]}});
            match api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(n) => pod_cidr(&n).unwrap_or(fallback),
                // Someone (node IPAM) assigned one first: use theirs.
                Err(kube::Error::Api(_)) => pod_cidr(&api.get(&name).await?).unwrap_or(fallback),
                Err(e) => return Err(e),
            }
        }
    };
    let patch = json!({"status": status(config, &name, ip, now, now)});
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let uid = node.metadata.uid.unwrap_or_default();
    lease::ensure(client, config, &name, &uid).await?;
    tracing::debug!(node = %name, pod_cidr = %cidr, "simulated node registered");
    Ok(NodeSlot::new(name, uid, ip, cidr, now.as_second()))
}

/// Registers every configured node, `config.max_in_flight` at a time, retrying
/// each a few times before giving up.
pub async fn register(
    client: &kube::Client,
    config: &SimConfig,
) -> Result<Vec<NodeSlot>, SimError> {
    let mut slots: Vec<(u32, NodeSlot)> = futures::stream::iter(0..config.count)
        .map(|i| async move {
            let mut attempt = 0;
            loop {
                match register_one(client, config, i).await {
                    Ok(s) => return Ok((i, s)),
                    Err(e) if attempt < 4 => {
                        attempt += 1;
                        tracing::warn!(node = %config.node_name(i), error = %e, attempt, "registering node failed; retrying");
                        tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
                    }
                    Err(source) => {
                        return Err(SimError::Register {
                            node: config.node_name(i),
                            source,
                        });
                    }
                }
            }
        })
        .buffer_unordered(config.max_in_flight.max(1))
        .try_collect()
        .await?;
    slots.sort_by_key(|(i, _)| *i);
    Ok(slots.into_iter().map(|(_, s)| s).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_object_has_upstream_shape() {
        let mut config = SimConfig::default();
        config.labels.insert("zone".into(), "a".into());
        let now = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let v = node_object(&config, "sim-0000", node_ip(0), now);
        let node: Node = serde_json::from_value(v).unwrap();
        let labels = node.metadata.labels.unwrap();
        assert_eq!(labels["kubernetes.io/hostname"], "sim-0000");
        assert_eq!(labels["type"], "simulated");
        assert_eq!(labels["zone"], "a");
        let status = node.status.unwrap();
        let cap = status.capacity.unwrap();
        assert_eq!(cap["cpu"].0, "32");
        assert_eq!(cap["pods"].0, "110");
        let conds = status.conditions.unwrap();
        let ready = conds.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_deref()),
            ("True", Some("KubeletReady"))
        );
        assert_eq!(status.node_info.unwrap().kubelet_version, "v1.33.0");
        assert_eq!(status.addresses.unwrap()[0].address, "10.254.0.1");
    }
}
