//! The Node object: registering it and computing its status (capacity,
//! allocatable, conditions, addresses, nodeInfo, images).

use std::collections::BTreeMap;
use std::net::IpAddr;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ContainerImage, DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints,
    NodeStatus, NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::config::KubeletConfig;
use crate::error::{KubeletError, is_conflict};
use crate::machine::MachineInfo;
use crate::runtime::proto;

/// Reported as `nodeInfo.kubeletVersion` (the API server's version).
pub const KUBELET_VERSION: &str = "v1.33.0+rkube";
/// Upstream's hard eviction threshold `memory.available<100Mi`.
const EVICTION_MEMORY: u64 = 100 << 20;
/// Upstream's `nodefs.available<10%`, in percent.
const EVICTION_DISK_PERCENT: u64 = 10;
/// Upstream reports at most this many images.
const MAX_IMAGES: usize = 50;

/// Everything the Node's status is computed from.
#[derive(Debug, Clone)]
pub struct NodeFactsInput {
    /// The machine.
    pub machine: MachineInfo,
    /// `InternalIP`.
    pub node_ip: IpAddr,
    /// `Hostname`.
    pub hostname: String,
    /// `containerd://1.6.20`.
    pub runtime_version: String,
    /// `None` when the runtime and its network are ready, else why not.
    pub not_ready: Option<String>,
    /// Images the runtime holds.
    pub images: Vec<proto::Image>,
    /// `MemAvailable`.
    pub memory_available: Option<u64>,
    /// Free bytes of the agent's file system.
    pub disk_available: Option<u64>,
    /// `status.capacity.pods`.
    pub max_pods: u32,
    /// The agent's HTTPS port.
    pub kubelet_port: u16,
}

fn q(s: impl Into<String>) -> Quantity {
    Quantity(s.into())
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The Node's labels.
pub fn labels(config: &KubeletConfig) -> BTreeMap<String, String> {
    let mut l = BTreeMap::from([
        (
            "kubernetes.io/hostname".to_string(),
            config.node_name.clone(),
        ),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
        ("kubernetes.io/arch".to_string(), arch().to_string()),
        ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
        ("beta.kubernetes.io/arch".to_string(), arch().to_string()),
    ]);
    l.extend(config.node_labels.clone());
    l
}

fn node_condition(
    ty: &str,
    ok_is_true: bool,
    healthy: bool,
    reason: &str,
    message: &str,
) -> NodeCondition {
    NodeCondition {
        type_: ty.to_string(),
        status: if healthy == ok_is_true {
            "True"
        } else {
            "False"
        }
        .to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        ..Default::default()
    }
}

/// The images list: digests then tags, largest images first, at most 50.
fn images(list: &[proto::Image]) -> Vec<ContainerImage> {
    let mut v: Vec<&proto::Image> = list.iter().collect();
    v.sort_by_key(|i| std::cmp::Reverse(i.size));
    v.into_iter()
        .take(MAX_IMAGES)
        .map(|i| ContainerImage {
            names: Some(i.repo_digests.iter().chain(&i.repo_tags).cloned().collect()),
            size_bytes: i64::try_from(i.size).ok(),
        })
        .collect()
}

/// The Node's status at `now`; transition times come from `old`.
pub fn status(input: &NodeFactsInput, old: Option<&NodeStatus>, now: Timestamp) -> NodeStatus {
    let m = &input.machine;
    let disk_total = m.disk_bytes;
    let capacity = BTreeMap::from([
        ("cpu".to_string(), q(m.cpus.to_string())),
        (
            "memory".to_string(),
            q(format!("{}Ki", m.memory_bytes / 1024)),
        ),
        ("pods".to_string(), q(input.max_pods.to_string())),
        (
            "ephemeral-storage".to_string(),
            q(format!("{}Ki", disk_total / 1024)),
        ),
        ("hugepages-1Gi".to_string(), q("0")),
        ("hugepages-2Mi".to_string(), q("0")),
    ]);
    let mut allocatable = capacity.clone();
    allocatable.insert(
        "memory".into(),
        q(format!(
            "{}Ki",
            m.memory_bytes.saturating_sub(EVICTION_MEMORY) / 1024
        )),
    );
    allocatable.insert(
        "ephemeral-storage".into(),
        q((disk_total - disk_total * EVICTION_DISK_PERCENT / 100).to_string()),
    );

    let memory_pressure = input.memory_available.is_some_and(|a| a < EVICTION_MEMORY);
    let disk_pressure = input
        .disk_available
        .is_some_and(|a| disk_total > 0 && a * 100 < disk_total * EVICTION_DISK_PERCENT);
    let mut conditions = vec![
        if memory_pressure {
            node_condition(
                "MemoryPressure",
                true,
                true,
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available",
            )
        } else {
            node_condition(
                "MemoryPressure",
                false,
                true,
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            )
        },
        if disk_pressure {
            node_condition(
                "DiskPressure",
                true,
                true,
                "KubeletHasDiskPressure",
                "kubelet has disk pressure",
            )
        } else {
            node_condition(
                "DiskPressure",
                false,
                true,
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure",
            )
        },
        node_condition(
            "PIDPressure",
            false,
            true,
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        match &input.not_ready {
            None => node_condition(
                "Ready",
                true,
                true,
                "KubeletReady",
                "kubelet is posting ready status",
            ),
            Some(why) => node_condition("Ready", true, false, "KubeletNotReady", why),
        },
    ];
    let old_conditions = old.and_then(|o| o.conditions.as_deref()).unwrap_or(&[]);
    for c in &mut conditions {
        c.last_heartbeat_time = Some(Time(now));
        c.last_transition_time = match old_conditions.iter().find(|o| o.type_ == c.type_) {
            Some(o) if o.status == c.status && o.last_transition_time.is_some() => {
                o.last_transition_time.clone()
            }
            _ => Some(Time(now)),
        };
    }

    NodeStatus {
        capacity: Some(capacity),
        allocatable: Some(allocatable),
        conditions: Some(conditions),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: input.node_ip.to_string(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: input.hostname.clone(),
            },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint {
                port: i32::from(input.kubelet_port),
            }),
        }),
        node_info: Some(NodeSystemInfo {
            machine_id: m.machine_id.clone(),
            system_uuid: m.system_uuid.clone(),
            boot_id: m.boot_id.clone(),
            kernel_version: m.kernel_version.clone(),
            os_image: m.os_image.clone(),
            container_runtime_version: input.runtime_version.clone(),
            kubelet_version: KUBELET_VERSION.into(),
            kube_proxy_version: String::new(),
            operating_system: "linux".into(),
            architecture: arch().into(),
            swap: None,
        }),
        images: Some(images(&input.images)),
        ..Default::default()
    }
}

/// Creates the Node (or takes over an existing one with that name) and posts
/// its first status; returns it.
pub async fn register(
    client: &kube::Client,
    config: &KubeletConfig,
    input: &NodeFactsInput,
) -> Result<Node, KubeletError> {
    let api: Api<Node> = Api::all(client.clone());
    let name = &config.node_name;
    let now = Timestamp::now();
    let node = Node {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(labels(config)),
            annotations: Some(BTreeMap::from([
                ("node.alpha.kubernetes.io/ttl".to_string(), "0".to_string()),
                (
                    "volumes.kubernetes.io/controller-managed-attach-detach".to_string(),
                    "true".to_string(),
                ),
            ])),
            ..Default::default()
        },
        status: Some(status(input, None, now)),
        ..Default::default()
    };
    let created = match api.create(&PostParams::default(), &node).await {
        Ok(n) => n,
        Err(e) if is_conflict(&e) => {
            let patch = json!({"metadata": {"labels": labels(config)}});
            api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(|e| KubeletError::api(format!("updating node {name}"), e))?
        }
        Err(e) => return Err(KubeletError::api(format!("registering node {name}"), e)),
    };
    let old = created.status.clone();
    let patch = json!({"status": status(input, old.as_ref(), now)});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| KubeletError::api(format!("posting the status of node {name}"), e))
}

/// Posts a fresh status; returns the updated Node.
pub async fn update(
    client: &kube::Client,
    config: &KubeletConfig,
    input: &NodeFactsInput,
    old: Option<&NodeStatus>,
) -> Result<Node, KubeletError> {
    let api: Api<Node> = Api::all(client.clone());
    let name = &config.node_name;
    let patch = json!({"status": status(input, old, Timestamp::now())});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| KubeletError::api(format!("posting the status of node {name}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> NodeFactsInput {
        NodeFactsInput {
            machine: MachineInfo {
                cpus: 2,
                memory_bytes: 4 << 30,
                disk_bytes: 100 << 30,
                kernel_version: "6.1.0".into(),
                os_image: "Debian GNU/Linux 12 (bookworm)".into(),
                ..Default::default()
            },
            node_ip: IpAddr::from([192, 0, 2, 2]),
            hostname: "n1".into(),
            runtime_version: "containerd://1.6.20".into(),
            not_ready: None,
            images: vec![proto::Image {
                repo_tags: vec!["docker.io/library/busybox:latest".into()],
                repo_digests: vec!["docker.io/library/busybox@sha256:ab".into()],
                size: 1_000_000,
                ..Default::default()
            }],
            memory_available: Some(3 << 30),
            disk_available: Some(50 << 30),
            max_pods: 110,
            kubelet_port: 10250,
        }
    }

    #[test]
    fn status_like_upstream() {
        let t0 = Timestamp::from_second(1_700_000_000).unwrap();
        let s = status(&input(), None, t0);
        let cap = s.capacity.as_ref().unwrap();
        assert_eq!(cap["cpu"].0, "2");
        assert_eq!(cap["memory"].0, "4194304Ki");
        assert_eq!(cap["pods"].0, "110");
        let alloc = s.allocatable.as_ref().unwrap();
        assert_eq!(alloc["memory"].0, "4091904Ki");
        let disk: u64 = 100 << 30;
        assert_eq!(alloc["ephemeral-storage"].0, (disk - disk / 10).to_string());
        let types: Vec<&str> = s
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(
            types,
            ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        );
        let ready = &s.conditions.as_ref().unwrap()[3];
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_deref()),
            ("True", Some("KubeletReady"))
        );
        let info = s.node_info.as_ref().unwrap();
        assert_eq!(info.container_runtime_version, "containerd://1.6.20");
        assert_eq!(info.operating_system, "linux");
        assert_eq!(
            s.images.as_ref().unwrap()[0].names.as_ref().unwrap()[0],
            "docker.io/library/busybox@sha256:ab"
        );

        // Not ready later: the transition time moves, the others' stay.
        let mut i = input();
        i.not_ready = Some("container runtime network not ready".into());
        let t1 = Timestamp::from_second(1_700_000_010).unwrap();
        let s2 = status(&i, Some(&s), t1);
        let c = s2.conditions.unwrap();
        assert_eq!(c[3].status, "False");
        assert_eq!(c[3].last_transition_time, Some(Time(t1)));
        assert_eq!(c[0].last_transition_time, Some(Time(t0)));
        assert_eq!(c[0].last_heartbeat_time, Some(Time(t1)));
    }
}
