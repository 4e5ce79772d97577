//! The CRI v1 client: runtime and image services over one unix-socket channel.

use crate::error::{Error, Result};
use crate::proto;
use crate::proto::image_service_client::ImageServiceClient;
use crate::proto::runtime_service_client::RuntimeServiceClient;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint, Uri};

/// containerd's default socket, as `--container-runtime-endpoint` defaults to.
pub const DEFAULT_ENDPOINT: &str = "unix:///run/containerd/containerd.sock";

/// Upstream kubelet's `--runtime-request-timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Upstream kubelet's limit for one CRI message (list calls on busy nodes are large).
const MAX_MESSAGE_SIZE: usize = 16 << 20;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A CRI v1 client. Cheap to clone; clones share one connection and may be used
/// from many tasks at once.
#[derive(Clone, Debug)]
pub struct CriClient {
    endpoint: String,
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
    timeout: Duration,
    pull_timeout: Option<Duration>,
}

impl CriClient {
    /// Connects to `endpoint` (`unix:///path` or `/path`) and fails if the
    /// socket does not answer.
    pub async fn connect(endpoint: &str) -> Result<Self> {
        let path = socket_path(endpoint)?;
        let channel = channel_endpoint()
            .connect_with_connector(unix_connector(path))
            .await
            .map_err(|source| Error::Connect {
                endpoint: endpoint.to_string(),
                source,
            })?;
        Ok(Self::from_channel(endpoint, channel))
    }

    /// Like [`connect`](Self::connect), but connects on the first call (and
    /// reconnects after the runtime restarts), so it succeeds before the
    /// runtime is up.
    pub fn connect_lazy(endpoint: &str) -> Result<Self> {
        let path = socket_path(endpoint)?;
        let channel = channel_endpoint().connect_with_connector_lazy(unix_connector(path));
        Ok(Self::from_channel(endpoint, channel))
    }

    fn from_channel(endpoint: &str, channel: Channel) -> Self {
        CriClient {
            endpoint: endpoint.to_string(),
            runtime: RuntimeServiceClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
            images: ImageServiceClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
            timeout: DEFAULT_TIMEOUT,
            pull_timeout: None,
        }
    }

    /// The deadline of each call other than image pulls (default 2 minutes).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The deadline of an image pull (default none).
    pub fn with_pull_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.pull_timeout = timeout;
        self
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    // ---- runtime: the runtime itself ----

    /// The runtime's name and version and the CRI version it speaks.
    pub async fn version(&self) -> Result<proto::VersionResponse> {
        let req = proto::VersionRequest {
            version: "v1".into(),
        };
        let mut c = self.runtime.clone();
        call(
            "Version",
            Some(self.timeout),
            c.version(request(req, Some(self.timeout))),
        )
        .await
    }

    /// The runtime's conditions (`RuntimeReady`, `NetworkReady`).
    pub async fn status(&self, verbose: bool) -> Result<proto::StatusResponse> {
        let req = proto::StatusRequest { verbose };
        let mut c = self.runtime.clone();
        call(
            "Status",
            Some(self.timeout),
            c.status(request(req, Some(self.timeout))),
        )
        .await
    }

    /// Tells the runtime the node's pod CIDR.
    pub async fn update_pod_cidr(&self, pod_cidr: &str) -> Result<()> {
        let req = proto::UpdateRuntimeConfigRequest {
            runtime_config: Some(proto::RuntimeConfig {
                network_config: Some(proto::NetworkConfig {
                    pod_cidr: pod_cidr.into(),
                }),
            }),
        };
        let mut c = self.runtime.clone();
        let t = Some(self.timeout);
        call(
            "UpdateRuntimeConfig",
            t,
            c.update_runtime_config(request(req, t)),
        )
        .await?;
        Ok(())
    }

    // ---- runtime: pod sandboxes ----

    /// Creates and starts a pod sandbox; returns its id.
    pub async fn run_pod_sandbox(
        &self,
        config: proto::PodSandboxConfig,
        runtime_handler: &str,
    ) -> Result<String> {
        let req = proto::RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: runtime_handler.into(),
        };
        let mut c = self.runtime.clone();
        let t = Some(self.timeout);
        let resp = call("RunPodSandbox", t, c.run_pod_sandbox(request(req, t))).await?;
        Ok(resp.pod_sandbox_id)
    }

    /// Stops a pod sandbox: kills its containers and tears down its network.
    /// Stopping a stopped sandbox succeeds.
    pub async fn stop_pod_sandbox(&self, pod_sandbox_id: &str) -> Result<()> {
        let req = proto::StopPodSandboxRequest {
            pod_sandbox_id: pod_sandbox_id.into(),
        };
        let mut c = self.runtime.clone();
        let t = Some(self.timeout);
        call("StopPodSandbox", t, c.stop_pod_sandbox(request(req, t))).await?;
        Ok(())
    }

    /// Removes a pod sandbox and its containers. Removing a missing sandbox succeeds.
    pub async fn remove_pod_sandbox(&self, pod_sandbox_id: &str) -> Result<()> {
        let req = proto::RemovePodSandboxRequest {
            pod_sandbox_id: pod_sandbox_id.into(),
        };
        let mut c = self.runtime.clone();
        let t = Some(self.timeout);
        call("RemovePodSandbox", t, c.remove_pod_sandbox(request(req, t))).await?;
        Ok(())
    }

    /// The status of a pod sandbox (state, IPs, namespaces).
    pub async fn pod_sandbox_status(
        &self,
        pod_sandbox_id: &str,
    ) -> Result<proto::PodSandboxStatus> {
        let req = proto::PodSandboxStatusRequest {
            pod_sandbox_id: pod_sandbox_id.into(),
            verbose: false,
        };
        let mut c = self.runtime.clone();
        let t = Some(self.timeout);
        let resp = call("PodSandboxStatus", t, c.pod_sandbox_status(request(req, t))).await?;
        resp.status.ok_or(Error::MissingField {
            method: "PodSandboxStatus",
            field: "status",
        })
    }

    /// The pod sandboxes that match `filter` (all when `None`).
    pub async fn list_pod_sandboxes(
        &self,
        filter: Option<proto::PodSandboxFilter>,
    ) -> Result<Vec<proto::PodSandbox>> {
        let req = proto::ListPodSandboxRequest { filter };
        let mut c = self.runtime.clone();
        let t = Some(self.timeout);
        Ok(
            call("ListPodSandbox", t, c.list_pod_sandbox(request(req, t)))
                .await?
                .items,
        )
    }

    // ---- runtime: containers ----

    /// Creates a container in a sandbox; returns its id.
    pub async fn create_container(
        &self,
        pod_sandbox_id: &str,
        config: proto::ContainerConfig,
        sandbox_config: proto::PodSandboxConfig,
    ) -> Result<String> {
        let req = proto::CreateContainerRequest {
            pod_sandbox_id: pod_sandbox_id.into(),
            config: Some(config),
            sandbox_config: Some(sandbox_config),
        };
        let mut c = self.runtime.clone();
        let t = Some(self.timeout);
        let resp = call("CreateContainer", t, c.create_container(request(req, t))).await?;
        Ok(resp.container_id)
    }

    /// Starts a created container.
    pub async fn start_container(&self, container_id: &str) -> Result<()> {
        let req = proto::StartContainerRequest {
            container_id: container_id.into(),
        };
        let mut c = self.runtime.clone();
        let t = Some(self.timeout);
        call("StartContainer", t, c.start_container(request(req, t))).await?;
        Ok(())
    }

    /// Stops a container: its stop signal (the image's `StopSignal`, else
    /// SIGTERM), then SIGKILL after `grace` (whole seconds; zero kills at once).
    pub async fn stop_container(&self, container_id: &str, grace: Duration) -> Result<()> {
        let req = proto::StopContainerRequest {
            container_id: container_id.into(),
            timeout: i64::try_from(grace.as_secs()).unwrap_or(i64::MAX),
        };
        let mut c = self.runtime.clone();
        let t = Some(grace.saturating_add(self.timeout));
        call("StopContainer", t, c.stop_container(request(req, t))).await?;
        Ok(())
    }

    /// Removes a container (stopping it first if it runs).
    pub async fn remove_container(&self, container_id: &str) -> Result<()> {
        let req = proto::RemoveContainerRequest {
            container_id: container_id.into(),
        };
        let mut c = self.runtime.clone();
        let t = Some(self.timeout);
        call("RemoveContainer", t, c.remove_container(request(req, t))).await?;
        Ok(())
    }

    /// The status of a container: state, exit code, reason, times, log path.
    pub async fn container_status(&self, container_id: &str) -> Result<proto::ContainerStatus> {
        let req = proto::ContainerStatusRequest {
            container_id: container_id.into(),
            verbose: false,
        };
        let mut c = self.runtime.clone();
        let t = Some(self.timeout);
        let resp = call("ContainerStatus", t, c.container_status(request(req, t))).await?;
        resp.status.ok_or(Error::MissingField {
            method: "ContainerStatus",
            field: "status",
        })
    }

    /// The containers that match `filter` (all when `None`).
    pub async fn list_containers(
        &self,
        filter: Option<proto::ContainerFilter>,
    ) -> Result<Vec<proto::Container>> {
        let req = proto::ListContainersRequest { filter };
        let mut c = self.runtime.clone();
        let t = Some(self.timeout);
        Ok(
            call("ListContainers", t, c.list_containers(request(req, t)))
                .await?
                .containers,
        )
    }

    /// Changes a running container's cgroup limits.
    pub async fn update_container_resources(
        &self,
        container_id: &str,
        linux: proto::LinuxContainerResources,
    ) -> Result<()> {
        let req = proto::UpdateContainerResourcesRequest {
            container_id: container_id.into(),
            linux: Some(linux),
            ..Default::default()
        };
        let mut c = self.runtime.clone();
        let t = Some(self.timeout);
        call(
            "UpdateContainerResources",
            t,
            c.update_container_resources(request(req, t)),
        )
        .await?;
        Ok(())
    }

    /// Asks the runtime to reopen a container's log file (after rotation).
    pub async fn reopen_container_log(&self, container_id: &str) -> Result<()> {
        let req = proto::ReopenContainerLogRequest {
            container_id: container_id.into(),
        };
        let mut c = self.runtime.clone();
        let t = Some(self.timeout);
        call(
            "ReopenContainerLog",
            t,
            c.reopen_container_log(request(req, t)),
        )
        .await?;
        Ok(())
    }

    /// Runs `cmd` in a running container and collects its output and exit code.
    /// `timeout` bounds the command (zero: no bound); the call's own deadline
    /// is `timeout` plus the client's timeout, as upstream.
    pub async fn exec_sync(
        &self,
        container_id: &str,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> Result<proto::ExecSyncResponse> {
        let req = proto::ExecSyncRequest {
            container_id: container_id.into(),
            cmd,
            timeout: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        };
        let mut c = self.runtime.clone();
        let t = Some(timeout.saturating_add(self.timeout));
        call("ExecSync", t, c.exec_sync(request(req, t))).await
    }

    /// Prepares a streaming exec; returns the URL of the runtime's streaming server.
    pub async fn exec(&self, req: proto::ExecRequest) -> Result<String> {
        let mut c = self.runtime.clone();
        let t = Some(self.timeout);
        Ok(call("Exec", t, c.exec(request(req, t))).await?.url)
    }

    /// Prepares a streaming attach; returns the URL of the runtime's streaming server.
    pub async fn attach(&self, req: proto::AttachRequest) -> Result<String> {
        let mut c = self.runtime.clone();
        let t = Some(self.timeout);
        Ok(call("Attach", t, c.attach(request(req, t))).await?.url)
    }

    /// Prepares a port forward into a sandbox; returns the URL of the runtime's
    /// streaming server.
    pub async fn port_forward(&self, pod_sandbox_id: &str, ports: Vec<i32>) -> Result<String> {
        let req = proto::PortForwardRequest {
            pod_sandbox_id: pod_sandbox_id.into(),
            port: ports,
        };
        let mut c = self.runtime.clone();
        let t = Some(self.timeout);
        Ok(call("PortForward", t, c.port_forward(request(req, t)))
            .await?
            .url)
    }

    /// Resource usage of the containers that match `filter` (all when `None`).
    pub async fn list_container_stats(
        &self,
        filter: Option<proto::ContainerStatsFilter>,
    ) -> Result<Vec<proto::ContainerStats>> {
        let req = proto::ListContainerStatsRequest { filter };
        let mut c = self.runtime.clone();
        let t = Some(self.timeout);
        Ok(call(
            "ListContainerStats",
            t,
            c.list_container_stats(request(req, t)),
        )
        .await?
        .stats)
    }

    // ---- images ----

    /// The image `image` (a name, `name:tag`, `name@digest` or id), or `None`
    /// when the runtime does not have it.
    pub async fn image_status(&self, image: &str) -> Result<Option<proto::Image>> {
        let req = proto::ImageStatusRequest {
            image: Some(image_spec(image)),
            verbose: false,
        };
        let mut c = self.images.clone();
        let t = Some(self.timeout);
        Ok(call("ImageStatus", t, c.image_status(request(req, t)))
            .await?
            .image)
    }

    /// Pulls `image` from its registry (always contacting the registry, even
    /// when the image is present); returns the image reference (its id).
    pub async fn pull_image(
        &self,
        image: &str,
        sandbox_config: Option<&proto::PodSandboxConfig>,
    ) -> Result<String> {
        let req = proto::PullImageRequest {
            image: Some(image_spec(image)),
            auth: None,
            sandbox_config: sandbox_config.cloned(),
        };
        let mut c = self.images.clone();
        let t = self.pull_timeout;
        Ok(call("PullImage", t, c.pull_image(request(req, t)))
            .await?
            .image_ref)
    }

    /// The images the runtime has, or those matching `image` when given.
    pub async fn list_images(&self, image: Option<&str>) -> Result<Vec<proto::Image>> {
        let req = proto::ListImagesRequest {
            filter: image.map(|i| proto::ImageFilter {
                image: Some(image_spec(i)),
            }),
        };
        let mut c = self.images.clone();
        let t = Some(self.timeout);
        Ok(call("ListImages", t, c.list_images(request(req, t)))
            .await?
            .images)
    }

    /// Removes an image. Removing a missing image succeeds.
    pub async fn remove_image(&self, image: &str) -> Result<()> {
        let req = proto::RemoveImageRequest {
            image: Some(image_spec(image)),
        };
        let mut c = self.images.clone();
        let t = Some(self.timeout);
        call("RemoveImage", t, c.remove_image(request(req, t))).await?;
        Ok(())
    }

    /// Usage of the filesystems that hold images and container layers.
    pub async fn image_fs_info(&self) -> Result<proto::ImageFsInfoResponse> {
        let mut c = self.images.clone();
        let t = Some(self.timeout);
        call(
            "ImageFsInfo",
            t,
            c.image_fs_info(request(proto::ImageFsInfoRequest {}, t)),
        )
        .await
    }
}

/// The socket path of a `unix://` endpoint (a bare absolute path is accepted too).
fn socket_path(endpoint: &str) -> Result<PathBuf> {
    let path = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
    if path.starts_with('/') {
        Ok(PathBuf::from(path))
    } else {
        Err(Error::UnsupportedEndpoint {
            endpoint: endpoint.to_string(),
        })
    }
}

/// The gRPC endpoint; its URI only names the `:authority`, the connector picks the socket.
fn channel_endpoint() -> Endpoint {
    Endpoint::from_static("http://localhost").connect_timeout(CONNECT_TIMEOUT)
}

fn unix_connector(
    path: PathBuf,
) -> impl tower::Service<
    Uri,
    Response = TokioIo<tokio::net::UnixStream>,
    Error = std::io::Error,
    Future = impl Future<Output = std::io::Result<TokioIo<tokio::net::UnixStream>>> + Send,
> + Send
+ Clone
+ 'static {
    tower::service_fn(move |_: Uri| {
        let path = path.clone();
        async move { Ok(TokioIo::new(tokio::net::UnixStream::connect(path).await?)) }
    })
}

fn image_spec(image: &str) -> proto::ImageSpec {
    proto::ImageSpec {
        image: image.into(),
        ..Default::default()
    }
}

/// A request carrying `grpc-timeout`, so the runtime gives up when we do.
fn request<T>(message: T, timeout: Option<Duration>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(timeout) = timeout {
        request.set_timeout(timeout);
    }
    request
}

/// Awaits one call under `timeout` and names the method in its error.
async fn call<T>(
    method: &'static str,
    timeout: Option<Duration>,
    fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T> {
    let start = Instant::now();
    let result = match timeout {
        Some(timeout) => tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| Error::Timeout { method, timeout })?,
        None => fut.await,
    };
    tracing::trace!(method, elapsed = ?start.elapsed(), ok = result.is_ok(), "CRI call");
    result
        .map(tonic::Response::into_inner)
        .map_err(|status| Error::Rpc { method, status })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            socket_path("unix:///run/containerd/containerd.sock").unwrap(),
            PathBuf::from("/run/containerd/containerd.sock")
        );
        assert_eq!(
            socket_path("/run/x.sock").unwrap(),
            PathBuf::from("/run/x.sock")
        );
        assert!(matches!(
            socket_path("tcp://127.0.0.1:1234"),
            Err(Error::UnsupportedEndpoint { .. })
        ));
        assert!(socket_path("unix://relative.sock").is_err());
    }

    #[tokio::test]
    async fn a_missing_socket_fails_to_connect() {
        let dir = tempfile::tempdir().unwrap();
        let endpoint = format!("unix://{}/none.sock", dir.path().display());
        let err = CriClient::connect(&endpoint).await.unwrap_err();
        assert!(matches!(err, Error::Connect { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_lazy_client_fails_per_call() {
        let dir = tempfile::tempdir().unwrap();
        let endpoint = format!("unix://{}/none.sock", dir.path().display());
        let cri = CriClient::connect_lazy(&endpoint).unwrap();
        assert_eq!(cri.endpoint(), endpoint);
        let err = cri.version().await.unwrap_err();
        assert_eq!(err.code(), Some(tonic::Code::Unavailable), "{err}");
    }
}
