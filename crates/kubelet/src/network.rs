//! The node's pod network: waits for the node IPAM controller to give the Node
//! a pod CIDR, then writes the CNI configuration containerd gives every
//! sandbox (one bridge per node, host-local addresses from the pod CIDR,
//! portmap for hostPorts; containerd adds the loopback itself).

use std::path::{Path, PathBuf};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::error::KubeletError;

/// The network's name (also host-local's state directory under /var/lib/cni/networks).
pub const NETWORK_NAME: &str = "rkube";
/// The file the agent writes in the CNI configuration directory.
pub const CONF_FILE: &str = "10-rkube.conflist";

/// The CNI configuration list for pods in `pod_cidr` on bridge `bridge`.
///
/// The pods get no default route, only their own subnet: nothing they send
/// can leave the node until a later layer (routes to other nodes, services)
/// adds more.
pub fn conflist(bridge: &str, pod_cidr: &str) -> Value {
    json!({
        "cniVersion": "1.0.0",
        "name": NETWORK_NAME,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": true,
                "ipMasq": false,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": pod_cidr}]],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": true}},
        ],
    })
}

/// Writes the configuration (atomically) unless the file already says the
/// same; returns whether it changed.
pub fn write_conflist(dir: &Path, bridge: &str, pod_cidr: &str) -> Result<bool, KubeletError> {
    let path = dir.join(CONF_FILE);
    let text = serde_json::to_string_pretty(&conflist(bridge, pod_cidr)).map_err(|source| {
        KubeletError::Json {
            what: "CNI configuration",
            source,
        }
    })? + "\n";
    if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
        return Ok(false);
    }
    std::fs::create_dir_all(dir).map_err(|e| KubeletError::io("creating", dir, e))?;
    let tmp: PathBuf = dir.join(format!(".{CONF_FILE}.{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(|e| KubeletError::io("writing", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| KubeletError::io("renaming", &path, e))?;
    Ok(true)
}

/// The Node's first pod CIDR.
pub fn pod_cidr(node: &Node) -> Option<String> {
    let spec = node.spec.as_ref()?;
    spec.pod_cidrs
        .iter()
        .flatten()
        .chain(spec.pod_cidr.iter())
        .find(|c| !c.is_empty())
        .cloned()
}

/// Waits until node `name` has a pod CIDR (`None` when stopped first).
pub async fn wait_for_pod_cidr(
    client: &kube::Client,
    name: &str,
    stop: &CancellationToken,
) -> Option<String> {
    let api: Api<Node> = Api::all(client.clone());
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut nodes = watcher(api, cfg)
        .default_backoff()
        .applied_objects()
        .boxed();
    let mut warned = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return None,
            ev = nodes.next() => match ev {
                Some(Ok(node)) => {
                    if let Some(c) = pod_cidr(&node) {
                        return Some(c);
                    }
                    if !warned {
                        tracing::info!(node = name, "waiting for the node IPAM controller to assign a pod CIDR");
                        warned = true;
                    }
                }
                Some(Err(e)) => tracing::debug!(error = %e, "watching the node"),
                None => return None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_bridge_network_once() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write_conflist(dir.path(), "cni0", "10.42.3.0/24").unwrap());
        assert!(!write_conflist(dir.path(), "cni0", "10.42.3.0/24").unwrap());
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(CONF_FILE)).unwrap())
                .unwrap();
        assert_eq!(v["plugins"][0]["type"], "bridge");
        assert_eq!(v["plugins"][0]["bridge"], "cni0");
        assert_eq!(
            v["plugins"][0]["ipam"]["ranges"][0][0]["subnet"],
            "10.42.3.0/24"
        );
        assert_eq!(v["plugins"][1]["type"], "portmap");
        assert!(write_conflist(dir.path(), "cni0", "10.42.4.0/24").unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
