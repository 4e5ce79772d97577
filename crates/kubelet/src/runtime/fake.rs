//! An in-memory [`Runtime`] for unit tests: sandboxes and containers that
//! change state only when a test says so, and a log of the calls made.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::{Result, Runtime, RuntimeError, proto};

const SANDBOX_READY: i32 = proto::PodSandboxState::SandboxReady as i32;
const SANDBOX_NOTREADY: i32 = proto::PodSandboxState::SandboxNotready as i32;
const CREATED: i32 = proto::ContainerState::ContainerCreated as i32;
const RUNNING: i32 = proto::ContainerState::ContainerRunning as i32;
const EXITED: i32 = proto::ContainerState::ContainerExited as i32;

/// A sandbox of the fake runtime.
#[derive(Debug, Clone)]
pub struct FakeSandbox {
    /// As created.
    pub config: proto::PodSandboxConfig,
    /// `SandboxReady` or `SandboxNotready`.
    pub state: i32,
    /// Nanoseconds since the epoch.
    pub created_at: i64,
    /// The pod IP (empty for host-network sandboxes).
    pub ip: String,
}

/// A container of the fake runtime.
#[derive(Debug, Clone)]
pub struct FakeContainer {
    /// Its sandbox.
    pub sandbox_id: String,
    /// As created.
    pub config: proto::ContainerConfig,
    /// `ContainerCreated`, `ContainerRunning` or `ContainerExited`.
    pub state: i32,
    /// Nanoseconds since the epoch.
    pub created_at: i64,
    /// Nanoseconds since the epoch (0: not started).
    pub started_at: i64,
    /// Nanoseconds since the epoch (0: not finished).
    pub finished_at: i64,
    /// Exit code once exited.
    pub exit_code: i32,
    /// The image reference it runs.
    pub image_ref: String,
}

/// Everything the fake runtime holds.
#[derive(Debug, Default)]
pub struct FakeState {
    /// The fake clock, nanoseconds since the epoch.
    pub now: i64,
    next_id: u64,
    /// Sandboxes by id.
    pub sandboxes: BTreeMap<String, FakeSandbox>,
    /// Containers by id.
    pub containers: BTreeMap<String, FakeContainer>,
    /// Images present: name → id.
    pub images: BTreeMap<String, String>,
    /// Pulls of these images fail with the message.
    pub pull_failures: HashMap<String, String>,
    /// Every mutating call, e.g. `RunPodSandbox web`, `StartContainer app`.
    pub calls: Vec<String>,
    /// Answers of ExecSync by command (joined with spaces); default exit 0.
    pub exec_results: HashMap<String, (i32, String)>,
    /// The streaming URL Exec, Attach and PortForward answer (an error when unset).
    pub stream_url: Option<String>,
}

/// The fake runtime.
#[derive(Debug, Default)]
pub struct FakeRuntime {
    state: Mutex<FakeState>,
}

fn not_found(what: &str) -> RuntimeError {
    RuntimeError::Fake {
        not_found: true,
        message: format!("{what} not found"),
    }
}

impl FakeRuntime {
    /// An empty runtime whose clock reads 2023-11-14T22:13:20Z.
    pub fn new() -> Self {
        let rt = FakeRuntime::default();
        rt.state().now = 1_700_000_000 * 1_000_000_000;
        rt
    }

    /// Locks the state (tests inspect and change it directly).
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The fake clock as a timestamp.
    pub fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::from_nanosecond(i128::from(self.state().now)).unwrap_or_default()
    }

    /// Moves the fake clock forward.
    pub fn advance(&self, by: Duration) {
        let nanos = i64::try_from(by.as_nanos()).unwrap_or(i64::MAX);
        self.state().now += nanos;
    }

    /// Makes the running container named `name` (newest first) exit with `code`.
    pub fn exit(&self, name: &str, code: i32) {
        let mut s = self.state();
        let now = s.now;
        let target = s
            .containers
            .iter_mut()
            .filter(|(_, c)| c.state == RUNNING && container_name(c) == name)
            .max_by_key(|(_, c)| c.created_at);
        if let Some((_, c)) = target {
            c.state = EXITED;
            c.exit_code = code;
            c.finished_at = now;
        }
    }

    /// The names of the calls made so far, then forgets them.
    pub fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut self.state().calls)
    }

    /// The containers named `name`, oldest first.
    pub fn containers_named(&self, name: &str) -> Vec<FakeContainer> {
        let s = self.state();
        let mut v: Vec<_> = s
            .containers
            .values()
            .filter(|c| container_name(c) == name)
            .cloned()
            .collect();
        v.sort_by_key(|c| c.created_at);
        v
    }
}

fn container_name(c: &FakeContainer) -> &str {
    c.config.metadata.as_ref().map_or("", |m| m.name.as_str())
}

fn matches(labels: &HashMap<String, String>, want: &HashMap<String, String>) -> bool {
    want.iter().all(|(k, v)| labels.get(k) == Some(v))
}

impl FakeState {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        // Strictly increasing creation times keep "newest" unambiguous.
        self.now += 1_000;
        format!("{prefix}{:04}", self.next_id)
    }

    fn stop(&mut self, id: &str) {
        let now = self.now;
        if let Some(c) = self.containers.get_mut(id)
            && c.state != EXITED
        {
            c.exit_code = if c.state == RUNNING { 137 } else { 0 };
            c.state = EXITED;
            c.finished_at = now;
        }
    }
}

impl Runtime for FakeRuntime {
    async fn version(&self) -> Result<proto::VersionResponse> {
        Ok(proto::VersionResponse {
            version: "0.1.0".into(),
            runtime_name: "fake".into(),
            runtime_version: "1.0.0".into(),
            runtime_api_version: "v1".into(),
        })
    }

    async fn conditions(&self) -> Result<Vec<proto::RuntimeCondition>> {
        let ready = |t: &str| proto::RuntimeCondition {
            r#type: t.into(),
            status: true,
            ..Default::default()
        };
        Ok(vec![ready("RuntimeReady"), ready("NetworkReady")])
    }

    async fn update_pod_cidr(&self, _cidr: &str) -> Result<()> {
        Ok(())
    }

    async fn run_pod_sandbox(&self, config: proto::PodSandboxConfig) -> Result<String> {
        let mut s = self.state();
        let id = s.id("sb");
        let host = config
            .linux
            .as_ref()
            .and_then(|l| l.security_context.as_ref())
            .and_then(|c| c.namespace_options.as_ref())
            .is_some_and(|n| n.network == proto::NamespaceMode::Node as i32);
        let ip = if host {
            String::new()
        } else {
            format!("10.42.0.{}", s.next_id % 250 + 2)
        };
        let name = config.metadata.as_ref().map_or("", |m| m.name.as_str());
        s.calls.push(format!("RunPodSandbox {name}"));
        let created_at = s.now;
        s.sandboxes.insert(
            id.clone(),
            FakeSandbox {
                config,
                state: SANDBOX_READY,
                created_at,
                ip,
            },
        );
        Ok(id)
    }

    async fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        let mut s = self.state();
        s.calls.push(format!("StopPodSandbox {id}"));
        let ids: Vec<String> = s
            .containers
            .iter()
            .filter(|(_, c)| c.sandbox_id == id)
            .map(|(k, _)| k.clone())
            .collect();
        for c in ids {
            s.stop(&c);
        }
        if let Some(sb) = s.sandboxes.get_mut(id) {
            sb.state = SANDBOX_NOTREADY;
        }
        Ok(())
    }

    async fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        let mut s = self.state();
        s.calls.push(format!("RemovePodSandbox {id}"));
        s.containers.retain(|_, c| c.sandbox_id != id);
        s.sandboxes.remove(id);
        Ok(())
    }

    async fn pod_sandbox_status(&self, id: &str) -> Result<proto::PodSandboxStatus> {
        let s = self.state();
        let sb = s.sandboxes.get(id).ok_or_else(|| not_found(id))?;
        Ok(proto::PodSandboxStatus {
            id: id.into(),
            metadata: sb.config.metadata.clone(),
            state: sb.state,
            created_at: sb.created_at,
            network: Some(proto::PodSandboxNetworkStatus {
                ip: if sb.state == SANDBOX_READY {
                    sb.ip.clone()
                } else {
                    String::new()
                },
                additional_ips: vec![],
            }),
            labels: sb.config.labels.clone(),
            annotations: sb.config.annotations.clone(),
            ..Default::default()
        })
    }

    async fn list_pod_sandboxes(
        &self,
        labels: HashMap<String, String>,
    ) -> Result<Vec<proto::PodSandbox>> {
        let s = self.state();
        Ok(s.sandboxes
            .iter()
            .filter(|(_, sb)| matches(&sb.config.labels, &labels))
            .map(|(id, sb)| proto::PodSandbox {
                id: id.clone(),
                metadata: sb.config.metadata.clone(),
                state: sb.state,
                created_at: sb.created_at,
                labels: sb.config.labels.clone(),
                annotations: sb.config.annotations.clone(),
                runtime_handler: String::new(),
            })
            .collect())
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: proto::ContainerConfig,
        _sandbox_config: proto::PodSandboxConfig,
    ) -> Result<String> {
        let mut s = self.state();
        if !s.sandboxes.contains_key(sandbox_id) {
            return Err(not_found(sandbox_id));
        }
        let id = s.id("c");
        let name = config.metadata.as_ref().map_or("", |m| m.name.as_str());
        s.calls.push(format!("CreateContainer {name}"));
        let image_ref = config
            .image
            .as_ref()
            .map(|i| i.image.clone())
            .unwrap_or_default();
        let created_at = s.now;
        s.containers.insert(
            id.clone(),
            FakeContainer {
                sandbox_id: sandbox_id.into(),
                config,
                state: CREATED,
                created_at,
                started_at: 0,
                finished_at: 0,
                exit_code: 0,
                image_ref,
            },
        );
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        let mut s = self.state();
        let now = s.now;
        let c = s.containers.get_mut(id).ok_or_else(|| not_found(id))?;
        c.state = RUNNING;
        c.started_at = now;
        let name = container_name(c).to_string();
        s.calls.push(format!("StartContainer {name}"));
        Ok(())
    }

    async fn stop_container(&self, id: &str, grace: Duration) -> Result<()> {
        let mut s = self.state();
        let name = s
            .containers
            .get(id)
            .map(container_name)
            .unwrap_or("")
            .to_string();
        s.calls
            .push(format!("StopContainer {name} {}s", grace.as_secs()));
        s.stop(id);
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        let mut s = self.state();
        let name = s
            .containers
            .get(id)
            .map(container_name)
            .unwrap_or("")
            .to_string();
        s.calls.push(format!("RemoveContainer {name}"));
        s.containers.remove(id);
        Ok(())
    }

    async fn container_status(&self, id: &str) -> Result<proto::ContainerStatus> {
        let s = self.state();
        let c = s.containers.get(id).ok_or_else(|| not_found(id))?;
        let reason = match (c.state, c.exit_code) {
            (EXITED, 0) => "Completed",
            (EXITED, _) => "Error",
            _ => "",
        };
        Ok(proto::ContainerStatus {
            id: id.into(),
            metadata: c.config.metadata.clone(),
            state: c.state,
            created_at: c.created_at,
            started_at: c.started_at,
            finished_at: c.finished_at,
            exit_code: c.exit_code,
            image: Some(proto::ImageSpec {
                image: c
                    .config
                    .image
                    .as_ref()
                    .map(|i| i.user_specified_image.clone())
                    .unwrap_or_default(),
                ..Default::default()
            }),
            image_ref: c.image_ref.clone(),
            reason: reason.into(),
            labels: c.config.labels.clone(),
            annotations: c.config.annotations.clone(),
            log_path: c.config.log_path.clone(),
            ..Default::default()
        })
    }

    async fn list_containers(
        &self,
        labels: HashMap<String, String>,
    ) -> Result<Vec<proto::Container>> {
        let s = self.state();
        Ok(s.containers
            .iter()
            .filter(|(_, c)| matches(&c.config.labels, &labels))
            .map(|(id, c)| proto::Container {
                id: id.clone(),
                pod_sandbox_id: c.sandbox_id.clone(),
                metadata: c.config.metadata.clone(),
                image: c.config.image.clone(),
                image_ref: c.image_ref.clone(),
                state: c.state,
                created_at: c.created_at,
                labels: c.config.labels.clone(),
                annotations: c.config.annotations.clone(),
                image_id: String::new(),
            })
            .collect())
    }

    async fn exec_sync(
        &self,
        id: &str,
        cmd: Vec<String>,
        _timeout: Duration,
    ) -> Result<(i32, Vec<u8>)> {
        let mut s = self.state();
        let name = s
            .containers
            .get(id)
            .map(container_name)
            .unwrap_or("")
            .to_string();
        let line = cmd.join(" ");
        s.calls.push(format!("ExecSync {name} {line}"));
        let (code, out) = s
            .exec_results
            .get(&line)
            .cloned()
            .unwrap_or((0, String::new()));
        Ok((code, out.into_bytes()))
    }

    async fn exec(&self, req: proto::ExecRequest) -> Result<String> {
        let mut s = self.state();
        s.calls
            .push(format!("Exec {} {}", req.container_id, req.cmd.join(" ")));
        fake_stream_url(&s)
    }

    async fn attach(&self, req: proto::AttachRequest) -> Result<String> {
        let mut s = self.state();
        s.calls.push(format!("Attach {}", req.container_id));
        fake_stream_url(&s)
    }

    async fn port_forward(&self, sandbox_id: &str, _ports: Vec<i32>) -> Result<String> {
        let mut s = self.state();
        s.calls.push(format!("PortForward {sandbox_id}"));
        fake_stream_url(&s)
    }

    async fn image_status(&self, image: &str) -> Result<Option<proto::Image>> {
        let s = self.state();
        Ok(s.images.get(image).map(|id| proto::Image {
            id: id.clone(),
            repo_tags: vec![image.to_string()],
            size: 1024,
            ..Default::default()
        }))
    }

    async fn pull_image(&self, image: &str, _config: &proto::PodSandboxConfig) -> Result<String> {
        let mut s = self.state();
        s.calls.push(format!("PullImage {image}"));
        if let Some(message) = s.pull_failures.get(image) {
            return Err(RuntimeError::Fake {
                not_found: false,
                message: message.clone(),
            });
        }
        let id = format!("sha256:{:064x}", image.len());
        s.images.insert(image.to_string(), id.clone());
        Ok(id)
    }

    async fn list_images(&self) -> Result<Vec<proto::Image>> {
        let s = self.state();
        Ok(s.images
            .iter()
            .map(|(name, id)| proto::Image {
                id: id.clone(),
                repo_tags: vec![name.clone()],
                size: 1024,
                ..Default::default()
            })
            .collect())
    }
}

fn fake_stream_url(s: &FakeState) -> Result<String> {
    s.stream_url.clone().ok_or_else(|| RuntimeError::Fake {
        not_found: false,
        message: "the fake runtime has no streaming server".into(),
    })
}
