//! A pod's resolver configuration from its `dnsPolicy` and `dnsConfig`, as
//! upstream's `GetPodDNS`; containerd writes it into `/etc/resolv.conf`.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Pod;

use crate::runtime::proto::DnsConfig;

/// Upstream's limits.
const MAX_NAMESERVERS: usize = 3;
const MAX_SEARCHES: usize = 32;

/// The parts of a `resolv.conf`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    /// `nameserver` lines.
    pub nameservers: Vec<String>,
    /// `search` (or `domain`) entries.
    pub searches: Vec<String>,
    /// `options` entries.
    pub options: Vec<String>,
}

impl ResolvConf {
    /// Parses a `resolv.conf` (unknown lines are ignored).
    pub fn parse(text: &str) -> Self {
        let mut r = ResolvConf::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => r.nameservers.extend(words.next().map(str::to_string)),
                Some("search" | "domain") => {
                    r.searches = words.map(str::to_string).collect();
                }
                Some("options") => r.options.extend(words.map(str::to_string)),
                _ => {}
            }
        }
        r
    }

    /// Reads `path`; an unreadable file gives an empty configuration.
    pub fn read(path: &std::path::Path) -> Self {
        std::fs::read_to_string(path)
            .map(|t| Self::parse(&t))
            .unwrap_or_default()
    }
}

/// What the node knows about the cluster's DNS.
#[derive(Debug, Clone)]
pub struct ClusterDns<'a> {
    /// The cluster DNS service addresses.
    pub servers: &'a [IpAddr],
    /// `cluster.local`.
    pub domain: &'a str,
    /// The node's own resolver configuration.
    pub host: &'a ResolvConf,
}

fn push_unique(list: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for i in items {
        if !list.contains(&i) {
            list.push(i);
        }
    }
}

/// The resolver configuration of `pod`.
pub fn pod_dns(pod: &Pod, cluster: &ClusterDns<'_>) -> DnsConfig {
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let policy = spec
        .and_then(|s| s.dns_policy.as_deref())
        .unwrap_or("ClusterFirst");
    let use_cluster = match policy {
        "ClusterFirstWithHostNet" => true,
        "ClusterFirst" => !host_network,
        _ => false,
    } && !cluster.servers.is_empty();
    let mut dns = DnsConfig::default();
    if policy == "None" {
        // Only what dnsConfig says.
    } else if use_cluster {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let d = cluster.domain;
        dns.servers = cluster.servers.iter().map(IpAddr::to_string).collect();
        dns.searches = vec![format!("{ns}.svc.{d}"), format!("svc.{d}"), d.to_string()];
        push_unique(&mut dns.searches, cluster.host.searches.iter().cloned());
        dns.options = vec!["ndots:5".into()];
    } else {
        dns.servers = cluster.host.nameservers.clone();
        dns.searches = cluster.host.searches.clone();
        dns.options = cluster.host.options.clone();
    }
    if let Some(cfg) = spec.and_then(|s| s.dns_config.as_ref()) {
        push_unique(&mut dns.servers, cfg.nameservers.iter().flatten().cloned());
        push_unique(&mut dns.searches, cfg.searches.iter().flatten().cloned());
        for o in cfg.options.iter().flatten() {
            let name = o.name.clone().unwrap_or_default();
            let entry = match &o.value {
                Some(v) => format!("{name}:{v}"),
                None => name.clone(),
            };
            dns.options
                .retain(|e| e.split(':').next().unwrap_or(e) != name.as_str());
            dns.options.push(entry);
        }
    }
    dns.servers.truncate(MAX_NAMESERVERS);
    dns.searches.truncate(MAX_SEARCHES);
    dns
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "ns1"}, "spec": spec}))
            .unwrap()
    }

    fn host() -> ResolvConf {
        ResolvConf::parse("# x\nnameserver 10.255.255.53\nsearch example.org\noptions edns0\n")
    }

    #[test]
    fn cluster_first_uses_the_cluster_dns() {
        let h = host();
        let servers = [IpAddr::from([10, 43, 0, 10])];
        let c = ClusterDns {
            servers: &servers,
            domain: "cluster.local",
            host: &h,
        };
        let dns = pod_dns(&pod(json!({"containers": []})), &c);
        assert_eq!(dns.servers, ["10.43.0.10"]);
        assert_eq!(
            dns.searches,
            [
                "ns1.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local",
                "example.org"
            ]
        );
        assert_eq!(dns.options, ["ndots:5"]);
        // hostNetwork with ClusterFirst falls back to the node's resolver.
        let dns = pod_dns(&pod(json!({"containers": [], "hostNetwork": true})), &c);
        assert_eq!(dns.servers, ["10.255.255.53"]);
        assert_eq!(dns.options, ["edns0"]);
        let dns = pod_dns(
            &pod(
                json!({"containers": [], "hostNetwork": true, "dnsPolicy": "ClusterFirstWithHostNet"}),
            ),
            &c,
        );
        assert_eq!(dns.servers, ["10.43.0.10"]);
    }

    #[test]
    fn none_takes_dns_config_only() {
        let h = host();
        let c = ClusterDns {
            servers: &[],
            domain: "cluster.local",
            host: &h,
        };
        let dns = pod_dns(
            &pod(json!({"containers": [], "dnsPolicy": "None", "dnsConfig": {
                "nameservers": ["1.2.3.4"], "searches": ["a.b"],
                "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}})),
            &c,
        );
        assert_eq!(dns.servers, ["1.2.3.4"]);
        assert_eq!(dns.searches, ["a.b"]);
        assert_eq!(dns.options, ["ndots:2", "edns0"]);
        // Without a cluster DNS, ClusterFirst falls back to Default.
        let dns = pod_dns(&pod(json!({"containers": []})), &c);
        assert_eq!(dns.servers, ["10.255.255.53"]);
    }
}
