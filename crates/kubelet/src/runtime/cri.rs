//! [`Runtime`] over a real CRI v1 runtime (containerd).

use std::collections::HashMap;
use std::time::Duration;

use rkube_cri::CriClient;

use super::{Result, Runtime, proto};

/// The runtime behind a CRI socket.
#[derive(Debug, Clone)]
pub struct CriRuntime {
    client: CriClient,
}

impl CriRuntime {
    /// A client of `endpoint` that connects on first use (and again after the
    /// runtime restarts).
    pub fn lazy(endpoint: &str) -> Result<Self> {
        Ok(CriRuntime {
            client: CriClient::connect_lazy(endpoint)?
                .with_timeout(Duration::from_secs(60))
                .with_pull_timeout(Some(Duration::from_secs(600))),
        })
    }

    /// The underlying client.
    pub fn client(&self) -> &CriClient {
        &self.client
    }
}

impl Runtime for CriRuntime {
    async fn version(&self) -> Result<proto::VersionResponse> {
        Ok(self.client.version().await?)
    }

    async fn conditions(&self) -> Result<Vec<proto::RuntimeCondition>> {
        let status = self.client.status(false).await?;
        Ok(status.status.map(|s| s.conditions).unwrap_or_default())
    }

    async fn update_pod_cidr(&self, cidr: &str) -> Result<()> {
        Ok(self.client.update_pod_cidr(cidr).await?)
    }

    async fn run_pod_sandbox(&self, config: proto::PodSandboxConfig) -> Result<String> {
        Ok(self.client.run_pod_sandbox(config, "").await?)
    }

    async fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        Ok(self.client.stop_pod_sandbox(id).await?)
    }

    async fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        Ok(self.client.remove_pod_sandbox(id).await?)
    }

    async fn pod_sandbox_status(&self, id: &str) -> Result<proto::PodSandboxStatus> {
        Ok(self.client.pod_sandbox_status(id).await?)
    }

    async fn list_pod_sandboxes(
        &self,
        labels: HashMap<String, String>,
    ) -> Result<Vec<proto::PodSandbox>> {
        let filter = proto::PodSandboxFilter {
            label_selector: labels,
            ..Default::default()
        };
        Ok(self.client.list_pod_sandboxes(Some(filter)).await?)
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: proto::ContainerConfig,
        sandbox_config: proto::PodSandboxConfig,
    ) -> Result<String> {
        Ok(self
            .client
            .create_container(sandbox_id, config, sandbox_config)
            .await?)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        Ok(self.client.start_container(id).await?)
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<()> {
        Ok(self.client.stop_container(id, grace).await?)
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        Ok(self.client.remove_container(id).await?)
    }

    async fn container_status(&self, id: &str) -> Result<proto::ContainerStatus> {
        Ok(self.client.container_status(id).await?)
    }

    async fn list_containers(
        &self,
        labels: HashMap<String, String>,
    ) -> Result<Vec<proto::Container>> {
        let filter = proto::ContainerFilter {
            label_selector: labels,
            ..Default::default()
        };
        Ok(self.client.list_containers(Some(filter)).await?)
    }

    async fn exec_sync(
        &self,
        id: &str,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> Result<(i32, Vec<u8>)> {
        let r = self.client.exec_sync(id, cmd, timeout).await?;
        let mut out = r.stdout;
        out.extend_from_slice(&r.stderr);
        Ok((r.exit_code, out))
    }

    async fn exec(&self, req: proto::ExecRequest) -> Result<String> {
        Ok(self.client.exec(req).await?)
    }

    async fn attach(&self, req: proto::AttachRequest) -> Result<String> {
        Ok(self.client.attach(req).await?)
    }

    async fn port_forward(&self, sandbox_id: &str, ports: Vec<i32>) -> Result<String> {
        Ok(self.client.port_forward(sandbox_id, ports).await?)
    }

    async fn image_status(&self, image: &str) -> Result<Option<proto::Image>> {
        Ok(self.client.image_status(image).await?)
    }

    async fn pull_image(
        &self,
        image: &str,
        sandbox_config: &proto::PodSandboxConfig,
    ) -> Result<String> {
        Ok(self.client.pull_image(image, Some(sandbox_config)).await?)
    }

    async fn list_images(&self) -> Result<Vec<proto::Image>> {
        Ok(self.client.list_images(None).await?)
    }
}
