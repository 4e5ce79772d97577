//! What the runtime holds for one pod: its sandboxes and containers, newest
//! first, read back from CRI by the pod's UID label (so a restarted agent
//! finds everything again).

use std::collections::HashMap;

use crate::runtime::{Result, Runtime, proto};
use crate::{labels, termination_message};

/// A sandbox of the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxRecord {
    /// Runtime id.
    pub id: String,
    /// `metadata.attempt`: how many sandboxes the pod had before this one.
    pub attempt: u32,
    /// The sandbox runs.
    pub ready: bool,
    /// Nanoseconds since the epoch.
    pub created_at: i64,
    /// Pod IPs (none for host-network pods and stopped sandboxes).
    pub ips: Vec<String>,
}

/// A container's state in the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Created, never started.
    Created,
    /// Running.
    Running,
    /// Exited.
    Exited,
    /// The runtime does not know.
    Unknown,
}

impl RunState {
    fn from_cri(state: i32) -> Self {
        match proto::ContainerState::try_from(state) {
            Ok(proto::ContainerState::ContainerCreated) => RunState::Created,
            Ok(proto::ContainerState::ContainerRunning) => RunState::Running,
            Ok(proto::ContainerState::ContainerExited) => RunState::Exited,
            _ => RunState::Unknown,
        }
    }
}

/// One container instance of the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRecord {
    /// Runtime id.
    pub id: String,
    /// The container's name in the pod spec.
    pub name: String,
    /// The sandbox it runs in.
    pub sandbox_id: String,
    /// Restarts before this instance (its `restartCount`).
    pub restart_count: u32,
    /// State.
    pub state: RunState,
    /// Nanoseconds since the epoch (0: unknown).
    pub created_at: i64,
    /// Nanoseconds since the epoch (0: not started).
    pub started_at: i64,
    /// Nanoseconds since the epoch (0: not finished).
    pub finished_at: i64,
    /// Exit code (when exited).
    pub exit_code: i32,
    /// The runtime's reason (`Completed`, `Error`, `OOMKilled`).
    pub reason: String,
    /// The runtime's message; for an exited container, followed by its
    /// termination message.
    pub message: String,
    /// The image as the runtime names it (`docker.io/library/busybox:latest`).
    pub image: String,
    /// The image's digest reference.
    pub image_ref: String,
    /// The image as the pod spec named it when the container was made.
    pub spec_image: String,
}

/// Everything the runtime holds for one pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodRuntimeState {
    /// Newest first.
    pub sandboxes: Vec<SandboxRecord>,
    /// Newest first.
    pub containers: Vec<ContainerRecord>,
}

impl PodRuntimeState {
    /// The newest sandbox.
    pub fn sandbox(&self) -> Option<&SandboxRecord> {
        self.sandboxes.first()
    }

    /// The newest instance of container `name`.
    pub fn latest(&self, name: &str) -> Option<&ContainerRecord> {
        self.containers.iter().find(|c| c.name == name)
    }

    /// The instance of `name` before the newest one.
    pub fn previous(&self, name: &str) -> Option<&ContainerRecord> {
        self.containers.iter().filter(|c| c.name == name).nth(1)
    }

    /// The newest instance of `name` in sandbox `sandbox_id`.
    pub fn latest_in(&self, name: &str, sandbox_id: &str) -> Option<&ContainerRecord> {
        self.containers
            .iter()
            .find(|c| c.name == name && c.sandbox_id == sandbox_id)
    }

    /// Containers that run (or were created) in any sandbox.
    pub fn live_containers(&self) -> impl Iterator<Item = &ContainerRecord> {
        self.containers.iter().filter(|c| {
            matches!(
                c.state,
                RunState::Running | RunState::Created | RunState::Unknown
            )
        })
    }

    /// True when nothing of the pod is left in the runtime.
    pub fn is_empty(&self) -> bool {
        self.sandboxes.is_empty() && self.containers.is_empty()
    }
}

fn restart_count(annotations: &HashMap<String, String>, attempt: u32) -> u32 {
    annotations
        .get(labels::RESTART_COUNT)
        .and_then(|v| v.parse().ok())
        .unwrap_or(attempt)
}

/// Reads the pod `uid`'s sandboxes and containers from the runtime; the two
/// newest instances of each container get a full status.
pub async fn load<R: Runtime>(runtime: &R, node: &str, uid: &str) -> Result<PodRuntimeState> {
    let selector = labels::pod_selector(node, uid);
    let mut sandboxes: Vec<proto::PodSandbox> =
        runtime.list_pod_sandboxes(selector.clone()).await?;
    sandboxes.sort_by_key(|s| std::cmp::Reverse(s.created_at));
    let mut records = Vec::with_capacity(sandboxes.len());
    for (i, sb) in sandboxes.into_iter().enumerate() {
        let ready = sb.state == proto::PodSandboxState::SandboxReady as i32;
        let mut ips = vec![];
        if i == 0 && ready {
            match runtime.pod_sandbox_status(&sb.id).await {
                Ok(st) => {
                    if let Some(net) = st.network {
                        ips.extend(Some(net.ip).filter(|ip| !ip.is_empty()));
                        ips.extend(net.additional_ips.into_iter().map(|p| p.ip));
                    }
                }
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            }
        }
        records.push(SandboxRecord {
            attempt: sb.metadata.as_ref().map_or(0, |m| m.attempt),
            id: sb.id,
            ready,
            created_at: sb.created_at,
            ips,
        });
    }

    let mut listed: Vec<proto::Container> = runtime.list_containers(selector).await?;
    listed.sort_by_key(|c| std::cmp::Reverse(c.created_at));
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut containers = Vec::with_capacity(listed.len());
    for c in listed {
        let name = c
            .labels
            .get(labels::CONTAINER_NAME)
            .cloned()
            .or_else(|| c.metadata.as_ref().map(|m| m.name.clone()))
            .unwrap_or_default();
        let attempt = c.metadata.as_ref().map_or(0, |m| m.attempt);
        let n = seen.entry(name.clone()).or_default();
        *n += 1;
        let mut record = ContainerRecord {
            id: c.id.clone(),
            name,
            sandbox_id: c.pod_sandbox_id.clone(),
            restart_count: restart_count(&c.annotations, attempt),
            state: RunState::from_cri(c.state),
            created_at: c.created_at,
            started_at: 0,
            finished_at: 0,
            exit_code: 0,
            reason: String::new(),
            message: String::new(),
            image: c
                .image
                .as_ref()
                .map(|i| i.image.clone())
                .unwrap_or_default(),
            image_ref: c.image_ref.clone(),
            spec_image: c
                .annotations
                .get(labels::CONTAINER_IMAGE)
                .cloned()
                .unwrap_or_default(),
        };
        if *n <= 2 {
            match runtime.container_status(&c.id).await {
                Ok(mut st) => {
                    record.state = RunState::from_cri(st.state);
                    if record.state == RunState::Exited {
                        st.message = termination_message::message(&st);
                    }
                    record.started_at = st.started_at;
                    record.finished_at = st.finished_at;
                    record.exit_code = st.exit_code;
                    record.reason = st.reason;
                    record.message = st.message;
                    if let Some(image) = st.image.filter(|i| !i.image.is_empty()) {
                        record.image = image.image;
                    }
                    if !st.image_ref.is_empty() {
                        record.image_ref = st.image_ref;
                    }
                }
                // Removed since the list.
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            }
        }
        containers.push(record);
    }
    Ok(PodRuntimeState {
        sandboxes: records,
        containers,
    })
}
