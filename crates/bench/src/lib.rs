//! Load generators and measurements of a Kubernetes API server, against any kubeconfig.

pub mod client;
pub mod config;
pub mod kubeconfig;
pub mod load;
pub mod measure;
pub mod pods;
pub mod process;
pub mod reads;
pub mod report;
pub mod stats;
pub mod suite;
pub mod watch;
