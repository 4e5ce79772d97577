//! A pod's sandbox configuration for CRI: metadata, hostname, DNS, port
//! mappings, labels, log directory and Linux namespaces, as upstream's
//! `generatePodSandboxConfig`.

use std::collections::HashMap;
use std::path::Path;

use k8s_openapi::api::core::v1::Pod;

use crate::dns::{ClusterDns, pod_dns};
use crate::labels;
use crate::podutil;
use crate::runtime::proto;

/// The pod's hostname: `spec.hostname` or its name, cut to 63 characters.
pub fn hostname(pod: &Pod) -> String {
    let name = pod
        .spec
        .as_ref()
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .or_else(|| pod.metadata.name.clone())
        .unwrap_or_default();
    let mut h: String = name.chars().take(63).collect();
    while h.ends_with(['-', '.']) {
        h.pop();
    }
    h
}

/// Which Linux namespaces the pod shares with the node or among its containers.
pub fn namespace_options(pod: &Pod) -> proto::NamespaceOption {
    let spec = pod.spec.as_ref();
    let flag = |f: fn(&k8s_openapi::api::core::v1::PodSpec) -> Option<bool>| {
        spec.and_then(f).unwrap_or(false)
    };
    let mode = |host: bool, otherwise: proto::NamespaceMode| {
        if host {
            proto::NamespaceMode::Node as i32
        } else {
            otherwise as i32
        }
    };
    proto::NamespaceOption {
        network: mode(flag(|s| s.host_network), proto::NamespaceMode::Pod),
        pid: mode(
            flag(|s| s.host_pid),
            if flag(|s| s.share_process_namespace) {
                proto::NamespaceMode::Pod
            } else {
                proto::NamespaceMode::Container
            },
        ),
        ipc: mode(flag(|s| s.host_ipc), proto::NamespaceMode::Pod),
        ..Default::default()
    }
}

fn protocol(p: Option<&str>) -> i32 {
    match p {
        Some("UDP") => proto::Protocol::Udp as i32,
        Some("SCTP") => proto::Protocol::Sctp as i32,
        _ => proto::Protocol::Tcp as i32,
    }
}

/// The labels every CRI object of the pod carries.
pub fn pod_labels(pod: &Pod, node: &str) -> HashMap<String, String> {
    let mut l: HashMap<String, String> = pod
        .metadata
        .labels
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    l.insert(
        labels::POD_NAME.into(),
        pod.metadata.name.clone().unwrap_or_default(),
    );
    l.insert(
        labels::POD_NAMESPACE.into(),
        pod.metadata.namespace.clone().unwrap_or_default(),
    );
    l.insert(labels::POD_UID.into(), podutil::uid(pod).to_string());
    l.insert(labels::NODE_NAME.into(), node.to_string());
    l
}

/// The sandbox configuration of `pod`'s sandbox number `attempt`.
pub fn sandbox_config(
    pod: &Pod,
    attempt: u32,
    node: &str,
    log_dir: &Path,
    dns: &ClusterDns<'_>,
) -> proto::PodSandboxConfig {
    let spec = pod.spec.as_ref();
    let host_network = podutil::host_network(pod);
    let port_mappings = podutil::containers(pod)
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .map(|p| proto::PortMapping {
            protocol: protocol(p.protocol.as_deref()),
            container_port: p.container_port,
            host_port: p.host_port.unwrap_or(0),
            host_ip: p.host_ip.clone().unwrap_or_default(),
        })
        .collect();
    let sc = spec.and_then(|s| s.security_context.as_ref());
    let privileged = podutil::containers(pod)
        .iter()
        .chain(podutil::init_containers(pod))
        .any(|c| {
            c.security_context
                .as_ref()
                .and_then(|s| s.privileged)
                .unwrap_or(false)
        });
    let sysctls = sc
        .and_then(|s| s.sysctls.as_ref())
        .into_iter()
        .flatten()
        .map(|s| (s.name.clone(), s.value.clone()))
        .collect();
    proto::PodSandboxConfig {
        metadata: Some(proto::PodSandboxMetadata {
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: podutil::uid(pod).to_string(),
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            attempt,
        }),
        // runc cannot set a hostname without a private UTS namespace.
        hostname: if host_network {
            String::new()
        } else {
            hostname(pod)
        },
        log_directory: log_dir.display().to_string(),
        dns_config: Some(pod_dns(pod, dns)),
        port_mappings,
        labels: pod_labels(pod, node),
        annotations: pod
            .metadata
            .annotations
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        linux: Some(proto::LinuxPodSandboxConfig {
            cgroup_parent: String::new(),
            security_context: Some(proto::LinuxSandboxSecurityContext {
                namespace_options: Some(namespace_options(pod)),
                run_as_user: sc
                    .and_then(|s| s.run_as_user)
                    .map(|value| proto::Int64Value { value }),
                run_as_group: sc
                    .and_then(|s| s.run_as_group)
                    .map(|value| proto::Int64Value { value }),
                supplemental_groups: sc
                    .and_then(|s| s.supplemental_groups.clone())
                    .unwrap_or_default(),
                privileged,
                ..Default::default()
            }),
            sysctls,
            ..Default::default()
        }),
        windows: None,
    }
}

/// The `/etc/hosts` upstream's kubelet writes for a pod with its own network.
pub fn hosts_file(pod: &Pod, ips: &[String], cluster_domain: &str) -> String {
    let mut s = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    let name = hostname(pod);
    let sub = pod.spec.as_ref().and_then(|s| s.subdomain.clone());
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    for ip in ips {
        match &sub {
            Some(sub) if !sub.is_empty() => s.push_str(&format!(
                "{ip}\t{name}.{sub}.{ns}.svc.{cluster_domain}\t{name}\n"
            )),
            _ => s.push_str(&format!("{ip}\t{name}\n")),
        }
    }
    for alias in pod
        .spec
        .as_ref()
        .and_then(|s| s.host_aliases.as_ref())
        .into_iter()
        .flatten()
    {
        s.push_str(&format!(
            "\n# Entries added by HostAliases.\n{}\t{}\n",
            alias.ip,
            alias.hostnames.clone().unwrap_or_default().join("\t")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::ResolvConf;
    use serde_json::json;

    #[test]
    fn sandbox_config_like_upstream() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1", "labels": {"app": "w"}},
            "spec": {"containers": [{"name": "c", "image": "nginx",
                "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 53, "protocol": "UDP"}]}]}
        }))
        .unwrap();
        let host = ResolvConf::default();
        let servers = [std::net::IpAddr::from([10, 43, 0, 10])];
        let dns = ClusterDns {
            servers: &servers,
            domain: "cluster.local",
            host: &host,
        };
        let cfg = sandbox_config(&pod, 1, "n1", Path::new("/logs/ns_web_u1"), &dns);
        let m = cfg.metadata.unwrap();
        assert_eq!(
            (
                m.name.as_str(),
                m.namespace.as_str(),
                m.uid.as_str(),
                m.attempt
            ),
            ("web", "ns", "u1", 1)
        );
        assert_eq!(cfg.hostname, "web");
        assert_eq!(cfg.labels["app"], "w");
        assert_eq!(cfg.labels[labels::POD_UID], "u1");
        assert_eq!(cfg.labels[labels::NODE_NAME], "n1");
        assert_eq!(cfg.port_mappings.len(), 2);
        assert_eq!(cfg.port_mappings[0].host_port, 8080);
        assert_eq!(cfg.port_mappings[1].protocol, proto::Protocol::Udp as i32);
        let ns = cfg
            .linux
            .unwrap()
            .security_context
            .unwrap()
            .namespace_options
            .unwrap();
        assert_eq!(ns.network, proto::NamespaceMode::Pod as i32);
        assert_eq!(ns.pid, proto::NamespaceMode::Container as i32);
        assert_eq!(cfg.dns_config.unwrap().servers, ["10.43.0.10"]);
    }

    #[test]
    fn hosts_file_names_the_pod() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-0", "namespace": "ns"},
            "spec": {"containers": [], "hostname": "web-0", "subdomain": "web"}
        }))
        .unwrap();
        let h = hosts_file(&pod, &["10.42.0.5".into()], "cluster.local");
        assert!(h.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(
            h.ends_with("10.42.0.5\tweb-0.web.ns.svc.cluster.local\tweb-0\n"),
            "{h}"
        );
    }
}
