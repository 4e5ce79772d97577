//! A typed client for the Kubernetes Container Runtime Interface (CRI v1):
//! gRPC over a runtime's unix socket (containerd's `/run/containerd/containerd.sock`).
//!
//! [`CriClient`] wraps the `RuntimeService` and `ImageService` of CRI v1 with
//! one method per call the kubelet makes; requests and replies are the
//! generated protobuf types, re-exported as [`proto`]. Every call carries a
//! deadline ([`CriClient::with_timeout`]; image pulls have none by default, as
//! upstream's kubelet) and fails with an [`Error`] that names the call.
//!
//! The protobuf types and gRPC stubs come from the `k8s-cri` crate, generated
//! from upstream's `k8s.io/cri-api/pkg/apis/runtime/v1/api.proto`.
//!
//! [`log`] parses the CRI log file format that runtimes write for containers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rkube_cri::Error> {
//! let cri = rkube_cri::CriClient::connect("unix:///run/containerd/containerd.sock").await?;
//! let version = cri.version().await?;
//! println!("{} {}", version.runtime_name, version.runtime_version);
//! let image_ref = cri.pull_image("busybox", None).await?;
//! println!("pulled {image_ref}");
//! # Ok(())
//! # }
//! ```

pub mod client;
pub mod error;
pub mod log;

pub use client::{CriClient, DEFAULT_ENDPOINT};
pub use error::{Error, Result};
/// The CRI v1 protobuf messages and gRPC clients (`runtime.v1`).
pub use k8s_cri::v1 as proto;
