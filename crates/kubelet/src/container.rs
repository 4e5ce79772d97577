//! A container's CRI configuration from its spec, as upstream's
//! `generateContainerConfig`: command and args with `$(VAR)` expansion,
//! environment, mounts, labels, log path, resources and security context.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::env::expand;
use crate::runtime::proto;
use crate::sandbox::namespace_options;
use crate::status::qos_class;
use crate::{labels, podutil, quantity};

/// Upstream's default masked paths for unprivileged containers.
const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
/// Upstream's default read-only paths for unprivileged containers.
const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// What a container's configuration needs besides its spec.
#[derive(Debug, Clone, Default)]
pub struct ContainerContext {
    /// The node's name (a label, to find the container again).
    pub node: String,
    /// The pulled image's reference.
    pub image_ref: String,
    /// The new instance's restart count.
    pub restart_count: u32,
    /// The resolved environment, in order.
    pub env: Vec<(String, String)>,
    /// Volumes and the hosts file.
    pub mounts: Vec<proto::Mount>,
    /// The node's memory capacity in bytes (for the OOM score).
    pub memory_capacity: i64,
}

fn container_hash(c: &Container) -> String {
    let mut h = DefaultHasher::new();
    serde_json::to_string(c).unwrap_or_default().hash(&mut h);
    format!("{:08x}", h.finish() as u32)
}

fn resources(pod: &Pod, c: &Container, memory_capacity: i64) -> proto::LinuxContainerResources {
    let r = c.resources.as_ref();
    let get =
        |m: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
         k: &str| m.and_then(|m| m.get(k)).map(|q| q.0.clone());
    let requests = r.and_then(|r| r.requests.as_ref());
    let limits = r.and_then(|r| r.limits.as_ref());
    let cpu_request = get(requests, "cpu")
        .or_else(|| get(limits, "cpu"))
        .and_then(|q| quantity::milli_cpu(&q));
    let cpu_limit = get(limits, "cpu").and_then(|q| quantity::milli_cpu(&q));
    let memory_limit = get(limits, "memory").and_then(|q| quantity::bytes(&q));
    let memory_request = get(requests, "memory")
        .or_else(|| get(limits, "memory"))
        .and_then(|q| quantity::bytes(&q));
    let oom_score_adj = match qos_class(pod) {
        "Guaranteed" => -997,
        "BestEffort" => 1000,
        _ => {
            let req = memory_request.unwrap_or(0);
            let adj = if memory_capacity > 0 {
                1000 - (1000 * req) / memory_capacity
            } else {
                999
            };
            adj.clamp(2, 999)
        }
    };
    let period = 100_000;
    proto::LinuxContainerResources {
        cpu_shares: cpu_request.map_or(2, |m| (m * 1024 / 1000).max(2)),
        cpu_period: if cpu_limit.is_some() { period } else { 0 },
        cpu_quota: cpu_limit.map_or(0, |m| (m * period / 1000).max(1000)),
        memory_limit_in_bytes: memory_limit.unwrap_or(0),
        oom_score_adj,
        ..Default::default()
    }
}

fn security_context(pod: &Pod, c: &Container) -> proto::LinuxContainerSecurityContext {
    let psc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let csc = c.security_context.as_ref();
    let privileged = csc.and_then(|s| s.privileged).unwrap_or(false);
    let run_as_user = csc
        .and_then(|s| s.run_as_user)
        .or_else(|| psc.and_then(|s| s.run_as_user));
    let run_as_group = csc
        .and_then(|s| s.run_as_group)
        .or_else(|| psc.and_then(|s| s.run_as_group));
    let caps = csc.and_then(|s| s.capabilities.as_ref());
    let unmasked = csc.and_then(|s| s.proc_mount.as_deref()) == Some("Unmasked");
    let (masked, readonly) = if privileged || unmasked {
        (vec![], vec![])
    } else {
        (
            MASKED_PATHS.iter().map(|s| s.to_string()).collect(),
            READONLY_PATHS.iter().map(|s| s.to_string()).collect(),
        )
    };
    proto::LinuxContainerSecurityContext {
        capabilities: caps.map(|c| proto::Capability {
            add_capabilities: c.add.clone().unwrap_or_default(),
            drop_capabilities: c.drop.clone().unwrap_or_default(),
            add_ambient_capabilities: vec![],
        }),
        privileged,
        namespace_options: Some(namespace_options(pod)),
        run_as_user: run_as_user.map(|value| proto::Int64Value { value }),
        run_as_group: run_as_group.map(|value| proto::Int64Value { value }),
        readonly_rootfs: csc
            .and_then(|s| s.read_only_root_filesystem)
            .unwrap_or(false),
        supplemental_groups: psc
            .and_then(|s| s.supplemental_groups.clone())
            .unwrap_or_default(),
        no_new_privs: csc.and_then(|s| s.allow_privilege_escalation) == Some(false),
        masked_paths: masked,
        readonly_paths: readonly,
        ..Default::default()
    }
}

/// The CRI configuration of container `c` of `pod`.
pub fn container_config(pod: &Pod, c: &Container, ctx: ContainerContext) -> proto::ContainerConfig {
    let vars: BTreeMap<String, String> = ctx.env.iter().cloned().collect();
    let image = c.image.clone().unwrap_or_default();
    let mut labels: HashMap<String, String> = HashMap::from([
        (labels::CONTAINER_NAME.to_string(), c.name.clone()),
        (
            labels::POD_NAME.to_string(),
            pod.metadata.name.clone().unwrap_or_default(),
        ),
        (
            labels::POD_NAMESPACE.to_string(),
            pod.metadata.namespace.clone().unwrap_or_default(),
        ),
        (labels::POD_UID.to_string(), podutil::uid(pod).to_string()),
    ]);
    labels.insert(labels::NODE_NAME.to_string(), ctx.node.clone());
    let grace = pod
        .spec
        .as_ref()
        .and_then(|s| s.termination_grace_period_seconds)
        .unwrap_or(30);
    let mut annotations = HashMap::from([
        (labels::CONTAINER_HASH.to_string(), container_hash(c)),
        (
            labels::RESTART_COUNT.to_string(),
            ctx.restart_count.to_string(),
        ),
        (labels::CONTAINER_IMAGE.to_string(), image.clone()),
        (labels::GRACE_PERIOD.to_string(), grace.to_string()),
        (
            labels::TERMINATION_MESSAGE_PATH.to_string(),
            c.termination_message_path
                .clone()
                .unwrap_or_else(|| "/dev/termination-log".into()),
        ),
        (
            labels::TERMINATION_MESSAGE_POLICY.to_string(),
            c.termination_message_policy
                .clone()
                .unwrap_or_else(|| "File".into()),
        ),
    ]);
    if let Some(ports) = c.ports.as_ref().filter(|p| !p.is_empty()) {
        annotations.insert(
            "io.kubernetes.container.ports".into(),
            serde_json::to_string(ports).unwrap_or_default(),
        );
    }
    proto::ContainerConfig {
        metadata: Some(proto::ContainerMetadata {
            name: c.name.clone(),
            attempt: ctx.restart_count,
        }),
        image: Some(proto::ImageSpec {
            image: ctx.image_ref.clone(),
            user_specified_image: image,
            ..Default::default()
        }),
        command: c
            .command
            .iter()
            .flatten()
            .map(|s| expand(s, &vars))
            .collect(),
        args: c.args.iter().flatten().map(|s| expand(s, &vars)).collect(),
        working_dir: c.working_dir.clone().unwrap_or_default(),
        envs: ctx
            .env
            .into_iter()
            .map(|(key, value)| proto::KeyValue { key, value })
            .collect(),
        mounts: ctx.mounts,
        labels,
        annotations,
        log_path: format!("{}/{}.log", c.name, ctx.restart_count),
        stdin: c.stdin.unwrap_or(false),
        stdin_once: c.stdin_once.unwrap_or(false),
        tty: c.tty.unwrap_or(false),
        linux: Some(proto::LinuxContainerConfig {
            resources: Some(resources(pod, c, ctx.memory_capacity)),
            security_context: Some(security_context(pod, c)),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_like_upstream() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
            "spec": {"containers": [{"name": "app", "image": "busybox",
                "command": ["sh", "-c"], "args": ["echo $(MSG)"], "workingDir": "/tmp",
                "resources": {"requests": {"cpu": "250m", "memory": "64Mi"},
                              "limits": {"cpu": "500m", "memory": "128Mi"}}}]}
        }))
        .unwrap();
        let c = &pod.spec.as_ref().unwrap().containers[0];
        let cfg = container_config(
            &pod,
            c,
            ContainerContext {
                node: "n1".into(),
                image_ref: "sha256:abc".into(),
                restart_count: 2,
                env: vec![("MSG".into(), "hi".into())],
                memory_capacity: 1 << 30,
                ..Default::default()
            },
        );
        assert_eq!(cfg.metadata.as_ref().unwrap().attempt, 2);
        assert_eq!(cfg.args, ["echo hi"]);
        assert_eq!(cfg.working_dir, "/tmp");
        assert_eq!(cfg.log_path, "app/2.log");
        assert_eq!(cfg.labels[labels::CONTAINER_NAME], "app");
        assert_eq!(cfg.labels[labels::NODE_NAME], "n1");
        assert_eq!(cfg.annotations[labels::RESTART_COUNT], "2");
        let image = cfg.image.unwrap();
        assert_eq!(
            (image.image.as_str(), image.user_specified_image.as_str()),
            ("sha256:abc", "busybox")
        );
        let linux = cfg.linux.unwrap();
        let r = linux.resources.unwrap();
        assert_eq!(r.cpu_shares, 256);
        assert_eq!((r.cpu_quota, r.cpu_period), (50_000, 100_000));
        assert_eq!(r.memory_limit_in_bytes, 128 << 20);
        assert_eq!(r.oom_score_adj, 938);
        let sc = linux.security_context.unwrap();
        assert!(sc.masked_paths.contains(&"/proc/kcore".to_string()));
    }
}
