//! Load generators and measurements of a Kubernetes API server and control plane, against any kubeconfig.

pub mod agent_log;
pub mod client;
pub mod cluster;
pub mod config;
pub mod control_plane;
pub mod cri_floor;
pub mod kubeconfig;
pub mod load;
pub mod measure;
pub mod node_agent;
pub mod node_proc;
pub mod pods;
pub mod podwatch;
pub mod process;
pub mod reads;
pub mod report;
pub mod rollout;
pub mod scheduling;
pub mod stats;
pub mod suite;
pub mod watch;
