//! The container runtime as the agent sees it: a narrow trait over CRI v1, so
//! pod workers can be tested against [`fake::FakeRuntime`].
//!
//! ```
//! use rkube_kubelet::runtime::{Runtime, fake::FakeRuntime};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let rt = FakeRuntime::new();
//! let v = rt.version().await.unwrap();
//! assert_eq!(v.runtime_name, "fake");
//! # });
//! ```

pub mod cri;
pub mod fake;

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

pub use rkube_cri::proto;

/// A failed runtime call.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A CRI call failed.
    #[error(transparent)]
    Cri(#[from] rkube_cri::Error),
    /// The fake runtime's answer (unit tests).
    #[error("{message}")]
    Fake {
        /// The object does not exist.
        not_found: bool,
        /// What went wrong.
        message: String,
    },
}

impl RuntimeError {
    /// True when the runtime says the object does not exist.
    pub fn is_not_found(&self) -> bool {
        match self {
            RuntimeError::Cri(e) => e.is_not_found(),
            RuntimeError::Fake { not_found, .. } => *not_found,
        }
    }

    /// The message upstream's kubelet shows for it: `rpc error: code = … desc = …`.
    pub fn user_message(&self) -> String {
        match self {
            RuntimeError::Cri(rkube_cri::Error::Rpc { status, .. }) => format!(
                "rpc error: code = {:?} desc = {}",
                status.code(),
                status.message()
            ),
            other => other.to_string(),
        }
    }
}

/// The result of a runtime call.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// The calls the agent makes to its container runtime.
pub trait Runtime: Send + Sync + 'static {
    /// The runtime's name and version.
    fn version(&self) -> impl Future<Output = Result<proto::VersionResponse>> + Send;
    /// The runtime's conditions (`RuntimeReady`, `NetworkReady`).
    fn conditions(&self) -> impl Future<Output = Result<Vec<proto::RuntimeCondition>>> + Send;
    /// Tells the runtime the node's pod CIDR.
    fn update_pod_cidr(&self, cidr: &str) -> impl Future<Output = Result<()>> + Send;

    /// Creates and starts a sandbox; returns its id.
    fn run_pod_sandbox(
        &self,
        config: proto::PodSandboxConfig,
    ) -> impl Future<Output = Result<String>> + Send;
    /// Stops a sandbox (kills its containers, tears down its network).
    fn stop_pod_sandbox(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Removes a sandbox and its containers.
    fn remove_pod_sandbox(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// A sandbox's state and network.
    fn pod_sandbox_status(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<proto::PodSandboxStatus>> + Send;
    /// The sandboxes carrying every label of `labels`.
    fn list_pod_sandboxes(
        &self,
        labels: HashMap<String, String>,
    ) -> impl Future<Output = Result<Vec<proto::PodSandbox>>> + Send;

    /// Creates a container in a sandbox; returns its id.
    fn create_container(
        &self,
        sandbox_id: &str,
        config: proto::ContainerConfig,
        sandbox_config: proto::PodSandboxConfig,
    ) -> impl Future<Output = Result<String>> + Send;
    /// Starts a created container.
    fn start_container(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Stop signal, then SIGKILL after `grace`.
    fn stop_container(&self, id: &str, grace: Duration) -> impl Future<Output = Result<()>> + Send;
    /// Removes a container.
    fn remove_container(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// A container's state, exit code, times.
    fn container_status(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<proto::ContainerStatus>> + Send;
    /// The containers carrying every label of `labels`.
    fn list_containers(
        &self,
        labels: HashMap<String, String>,
    ) -> impl Future<Output = Result<Vec<proto::Container>>> + Send;

    /// Runs `cmd` in a running container; returns its exit code and output
    /// (stdout then stderr). `timeout` bounds the command.
    fn exec_sync(
        &self,
        id: &str,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> impl Future<Output = Result<(i32, Vec<u8>)>> + Send;

    /// Prepares a streaming exec; returns the runtime's streaming URL.
    fn exec(&self, req: proto::ExecRequest) -> impl Future<Output = Result<String>> + Send;
    /// Prepares a streaming attach; returns the runtime's streaming URL.
    fn attach(&self, req: proto::AttachRequest) -> impl Future<Output = Result<String>> + Send;
    /// Prepares a port forward into a sandbox; returns the runtime's streaming URL.
    fn port_forward(
        &self,
        sandbox_id: &str,
        ports: Vec<i32>,
    ) -> impl Future<Output = Result<String>> + Send;

    /// The image, or `None` when the runtime lacks it.
    fn image_status(
        &self,
        image: &str,
    ) -> impl Future<Output = Result<Option<proto::Image>>> + Send;
    /// Pulls an image; returns its reference (id).
    fn pull_image(
        &self,
        image: &str,
        sandbox_config: &proto::PodSandboxConfig,
    ) -> impl Future<Output = Result<String>> + Send;
    /// Every image the runtime has.
    fn list_images(&self) -> impl Future<Output = Result<Vec<proto::Image>>> + Send;
}
