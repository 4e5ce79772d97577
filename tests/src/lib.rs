//! End-to-end test support: real `rkube server` processes, a real etcd, and the real kubectl.

pub mod cluster;
pub mod etcd;
pub mod kubectl_scenario;
pub mod real_node;
pub mod story;
pub mod watch;

pub use cluster::{Cluster, ServerOptions};
