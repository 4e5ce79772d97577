//! The agent's configuration: names, paths, intervals, cluster DNS.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::KubeletError;

/// Where containerd reads CNI network configurations (docs/node-setup.md).
pub const DEFAULT_CNI_CONF_DIR: &str = "/etc/cni/net.d";

/// Everything the node agent needs to know before it starts.
#[derive(Debug, Clone)]
pub struct KubeletConfig {
    /// The Node's name (lower-case DNS subdomain).
    pub node_name: String,
    /// The agent's state directory (`DIR/agent`): pod directories, container logs.
    pub root_dir: PathBuf,
    /// The CRI endpoint, `unix:///run/containerd/containerd.sock`.
    pub runtime_endpoint: String,
    /// Where the CNI network configuration is written.
    pub cni_conf_dir: PathBuf,
    /// The bridge every pod of this node is attached to.
    pub cni_bridge: String,
    /// The address written into the Node's `InternalIP` and pods' `hostIP`;
    /// `None`: the address of the interface that carries the default route.
    pub node_ip: Option<IpAddr>,
    /// Extra labels of the Node.
    pub node_labels: BTreeMap<String, String>,
    /// Nameservers of pods with `dnsPolicy: ClusterFirst`.
    pub cluster_dns: Vec<IpAddr>,
    /// The cluster's DNS domain.
    pub cluster_domain: String,
    /// The host's resolver configuration (pods with `dnsPolicy: Default`).
    pub resolv_conf: PathBuf,
    /// `status.capacity.pods`.
    pub max_pods: u32,
    /// How often the Node's status is computed and posted.
    pub node_status_interval: Duration,
    /// The node Lease's `leaseDurationSeconds`.
    pub lease_duration_seconds: i32,
    /// How often the Lease is renewed.
    pub lease_renew_interval: Duration,
    /// How often the runtime is relisted to notice containers that exited.
    pub relist_period: Duration,
    /// How often a pod is synced even when nothing seems to change.
    pub resync_period: Duration,
    /// How often the configMap, secret and downwardAPI volumes of a running
    /// pod are refreshed.
    pub volume_refresh_period: Duration,
    /// The port of the agent's HTTPS server (logs), reported in the Node's
    /// `daemonEndpoints.kubeletEndpoint`.
    pub kubelet_port: u16,
    /// The address the HTTPS server listens on.
    pub kubelet_address: IpAddr,
    /// The bearer token the API server presents (the node join token); no
    /// HTTPS server without one.
    pub server_token: Option<String>,
    /// Where static pod manifests are read from (`DIR/agent/manifests`).
    pub static_pod_dir: PathBuf,
    /// How often that directory is read.
    pub static_pod_period: Duration,
    /// Upstream's `shutdownGracePeriod`: how long a node shutdown gives its
    /// pods; zero (the default) leaves them running when the agent stops.
    pub shutdown_grace_period: Duration,
    /// The part of that period kept for critical pods
    /// (`shutdownGracePeriodCriticalPods`).
    pub shutdown_grace_period_critical_pods: Duration,
}

impl KubeletConfig {
    /// Defaults for node `node_name` with state under `root_dir`.
    pub fn new(node_name: impl Into<String>, root_dir: impl Into<PathBuf>) -> Self {
        let root_dir: PathBuf = root_dir.into();
        KubeletConfig {
            node_name: node_name.into(),
            runtime_endpoint: rkube_cri::DEFAULT_ENDPOINT.to_string(),
            cni_conf_dir: std::env::var_os("RKUBE_CNI_CONF_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CNI_CONF_DIR)),
            cni_bridge: "cni0".into(),
            node_ip: None,
            node_labels: BTreeMap::new(),
            cluster_dns: vec![IpAddr::from([10, 43, 0, 10])],
            cluster_domain: "cluster.local".into(),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            max_pods: 110,
            node_status_interval: Duration::from_secs(10),
            lease_duration_seconds: 40,
            lease_renew_interval: Duration::from_secs(10),
            relist_period: Duration::from_secs(1),
            resync_period: Duration::from_secs(30),
            volume_refresh_period: Duration::from_secs(10),
            kubelet_port: 10250,
            kubelet_address: IpAddr::from([0, 0, 0, 0]),
            server_token: None,
            static_pod_dir: root_dir.join("manifests"),
            static_pod_period: Duration::from_secs(2),
            shutdown_grace_period: Duration::ZERO,
            shutdown_grace_period_critical_pods: Duration::ZERO,
            root_dir,
        }
    }

    /// Checks what cannot work before any socket opens.
    pub fn validate(&self) -> Result<(), KubeletError> {
        let name = &self.node_name;
        let valid = !name.is_empty()
            && name.len() <= 253
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !valid {
            return Err(KubeletError::Config(format!(
                "node name {name:?} is not a lower-case DNS subdomain"
            )));
        }
        if !self.root_dir.is_absolute() {
            return Err(KubeletError::Config(format!(
                "the agent's directory {} is not absolute",
                self.root_dir.display()
            )));
        }
        if self.lease_duration_seconds < 1 || self.relist_period.is_zero() {
            return Err(KubeletError::Config(
                "lease duration and relist period must be positive".into(),
            ));
        }
        Ok(())
    }

    /// `DIR/agent/pods/<uid>`: the pod's own files (hosts file, volumes).
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.root_dir.join("pods").join(uid)
    }

    /// `DIR/agent/logs/<namespace>_<name>_<uid>`: the pod's container logs.
    pub fn pod_log_dir(&self, namespace: &str, name: &str, uid: &str) -> PathBuf {
        self.root_dir
            .join("logs")
            .join(format!("{namespace}_{name}_{uid}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_must_be_dns_subdomains() {
        assert!(
            KubeletConfig::new("node-1.example", "/x")
                .validate()
                .is_ok()
        );
        for bad in ["", "Node", "-a", "a_b", "a-"] {
            assert!(KubeletConfig::new(bad, "/x").validate().is_err(), "{bad}");
        }
        assert!(KubeletConfig::new("n", "rel").validate().is_err());
    }
}
