//! Command-line flags, named after k3s's where k3s has the flag.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "rkube", version, about = "Kubernetes in one binary")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a server: API server, controllers, scheduler and a node agent.
    Server(ServerArgs),
    /// Run a node agent that joins a server.
    Agent(AgentArgs),
    /// Run kubectl against this cluster.
    Kubectl(KubectlArgs),
    /// Manage images on this node's containerd (`images import FILE`).
    Images(crate::images::ImagesArgs),
}

/// Default data directory, as k3s's is /var/lib/rancher/k3s.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/rkube";

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Folder for state: kubeconfig, token, certificates, database, agent state.
    #[arg(long, short = 'd', default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Address the API server listens on.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    /// HTTPS port of the API server.
    #[arg(long, default_value_t = 6443)]
    pub https_listen_port: u16,
    /// Also write the admin kubeconfig here.
    #[arg(long, short = 'o')]
    pub write_kubeconfig: Option<PathBuf>,
    /// Shared secret nodes use to join (generated when absent).
    #[arg(long, short = 't', env = "RKUBE_TOKEN")]
    pub token: Option<String>,
    /// sqlite:///PATH (default: DIR/db/state.db), memory://, or etcd http://HOST:2379[,…].
    #[arg(long, short = 'E')]
    pub datastore_endpoint: Option<String>,
    /// Do not run the node agent in the server.
    #[arg(long)]
    pub disable_agent: bool,
    /// Do not run the scheduler in the server.
    #[arg(long)]
    pub disable_scheduler: bool,
    /// Do not run the controllers in the server.
    #[arg(long)]
    pub disable_controller_manager: bool,
    /// Name of this node.
    #[arg(long)]
    pub node_name: Option<String>,
    /// Address reported as the node's InternalIP (default: the default route's interface).
    #[arg(long)]
    pub node_ip: Option<IpAddr>,
    /// The CRI socket of the container runtime the agent uses.
    #[arg(long, default_value = "unix:///run/containerd/containerd.sock")]
    pub container_runtime_endpoint: String,
    /// Port of the agent's HTTPS server (container logs for the API server).
    #[arg(long, default_value_t = 10250)]
    pub kubelet_port: u16,
    #[arg(long, default_value = "10.42.0.0/16")]
    pub cluster_cidr: String,
    #[arg(long, default_value = "10.43.0.0/16")]
    pub service_cidr: String,
    /// Seconds a node may stay silent before it is marked NotReady (Unknown).
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..))]
    pub node_monitor_grace_period: u64,
    #[arg(long, default_value = "10.43.0.10")]
    pub cluster_dns: IpAddr,
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    #[arg(long, default_value = "30000-32767")]
    pub service_node_port_range: String,
    /// iptables, ipvs or nftables.
    #[arg(long, default_value = "iptables", value_parser = ["iptables", "ipvs", "nftables"])]
    pub proxy_mode: String,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[arg(long)]
    pub server: String,
    #[arg(long, env = "RKUBE_TOKEN")]
    pub token: String,
    #[arg(long)]
    pub node_name: Option<String>,
    #[arg(long, short = 'd', default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// The CRI socket of the container runtime.
    #[arg(long, default_value = "unix:///run/containerd/containerd.sock")]
    pub container_runtime_endpoint: String,
    /// Address reported as the node's InternalIP (default: the default route's interface).
    #[arg(long)]
    pub node_ip: Option<IpAddr>,
    /// Port of the agent's HTTPS server (container logs for the API server).
    #[arg(long, default_value_t = 10250)]
    pub kubelet_port: u16,
    /// Nameserver of pods with dnsPolicy ClusterFirst.
    #[arg(long, default_value = "10.43.0.10")]
    pub cluster_dns: IpAddr,
    /// The cluster's DNS domain.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Graceful node shutdown: SIGTERM stops every pod within this period
    /// (`30s`, `2m`) and reports them Failed, as upstream's
    /// `shutdownGracePeriod`; 0 (the default) leaves pods running for a
    /// restarted agent to adopt. SIGINT always leaves them running.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub shutdown_grace_period: std::time::Duration,
    /// The part of the shutdown grace period kept for critical pods
    /// (`shutdownGracePeriodCriticalPods`).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub shutdown_grace_period_critical_pods: std::time::Duration,
    /// Run N simulated nodes instead of a real kubelet.
    #[arg(long)]
    pub simulate: Option<u32>,
    /// Simulated nodes: name prefix (nodes are PREFIX0000, PREFIX0001, …).
    #[arg(long, default_value = "sim-")]
    pub sim_name_prefix: String,
    /// Simulated nodes: cpu capacity.
    #[arg(long, default_value = "32")]
    pub sim_cpu: String,
    /// Simulated nodes: memory capacity.
    #[arg(long, default_value = "256Gi")]
    pub sim_memory: String,
    /// Simulated nodes: pod capacity.
    #[arg(long, default_value_t = 110)]
    pub sim_pods: u32,
    /// Simulated nodes: extra label KEY=VALUE (repeatable).
    #[arg(long = "node-label")]
    pub node_labels: Vec<String>,
    /// Simulated nodes: taint KEY[=VALUE]:EFFECT (repeatable).
    #[arg(long = "node-taint")]
    pub node_taints: Vec<String>,
    /// Simulated nodes: seconds from Running to Ready.
    #[arg(long, default_value_t = 0.0)]
    pub sim_ready_delay: f64,
    /// Simulated nodes: node lease duration in seconds; leases are renewed every quarter of
    /// it, as the kubelet's `nodeLeaseDurationSeconds`.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(i32).range(1..))]
    pub sim_node_lease_duration: i32,
}

#[derive(Debug, Args)]
pub struct KubectlArgs {
    #[arg(long, short = 'd', default_value = DEFAULT_DATA_DIR, env = "RKUBE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Arguments passed to kubectl.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Parses a duration as `30s`, `2m`, `1h`, `500ms` or whole seconds.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?}: want a duration such as 30s or 2m"))?;
    let d = match unit {
        "" | "s" => std::time::Duration::from_secs(n),
        "ms" => std::time::Duration::from_millis(n),
        "m" => std::time::Duration::from_secs(n * 60),
        "h" => std::time::Duration::from_secs(n * 3600),
        _ => return Err(format!("{s:?}: want a duration such as 30s or 2m")),
    };
    Ok(d)
}

#[cfg(test)]
mod duration_tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3d").is_err());
    }
}
