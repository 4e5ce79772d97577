//! One pod's worker: reads what the runtime holds for the pod, executes the
//! next actions (sandbox, image pulls, init and app containers, kills),
//! reports the pod's status, and on deletion stops everything within the
//! grace period, removes it and deletes the pod object.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, PodStatus, Secret, Service};
use kube::api::Api;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::actions::{self, PodActions, Start, Waiting};
use crate::backoff::Backoff;
use crate::config::KubeletConfig;
use crate::container::{ContainerContext, container_config};
use crate::dns::{ClusterDns, ResolvConf};
use crate::env::{self, EnvObjects, NodeFacts};
use crate::error::KubeletError;
use crate::events::Recorder;
use crate::handlers::{self, Action, Target};
use crate::images;
use crate::pod_state::{self, PodRuntimeState, RunState};
use crate::podutil;
use crate::prober::{Kind, PodProbes};
use crate::runtime::{Runtime, proto};
use crate::sandbox::{hosts_file, sandbox_config};
use crate::service_env;
use crate::static_pods;
use crate::status::{self, StatusInput};
use crate::status_manager::StatusManager;
use crate::volumes;

/// How soon a failed sync is retried.
const RETRY: Duration = Duration::from_secs(2);
/// Upstream's minimum grace period, also the extension after a late preStop.
const MIN_GRACE: Duration = Duration::from_secs(2);
/// How soon volumes that failed to set up are tried again.
const MOUNT_RETRY: Duration = Duration::from_secs(5);

/// What every pod worker shares.
pub struct WorkerContext<R> {
    /// The container runtime.
    pub runtime: Arc<R>,
    /// The agent's configuration.
    pub config: Arc<KubeletConfig>,
    /// API client (ConfigMaps and Secrets for the environment).
    pub client: Option<kube::Client>,
    /// Writes statuses and deletes pods.
    pub status: Option<StatusManager>,
    /// Records events.
    pub events: Recorder,
    /// The node's address.
    pub node_ip: String,
    /// The node's resolver configuration.
    pub host_resolv: ResolvConf,
    /// Memory and allocatable figures for containers.
    pub facts: NodeFacts,
    /// Memory capacity in bytes.
    pub memory_capacity: i64,
    /// The wall clock (a fake one in tests).
    pub clock: Clock,
    /// The node's shutdown, once it begins.
    pub shutdown: Arc<crate::shutdown::NodeShutdown>,
}

/// A wall clock.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The system's clock.
pub fn system_clock() -> Clock {
    Arc::new(Timestamp::now)
}

/// The newest version of the pod a worker is given.
#[derive(Debug, Clone)]
pub struct PodUpdate {
    /// The pod as the API last showed it.
    pub pod: Arc<Pod>,
    /// The pod is gone from the API.
    pub removed: bool,
    /// Bumped to make the worker sync (the runtime changed).
    pub wake: u64,
    /// For a static pod: its mirror pod in the API, which shows its status.
    pub mirror: Option<Arc<Pod>>,
}

/// The outcome of one sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Sync again after this long, or on the next change.
    Wait(Option<Duration>),
    /// Nothing is left of the pod: the worker ends.
    Done,
}

/// One pod's worker.
pub struct PodWorker<R> {
    ctx: Arc<WorkerContext<R>>,
    pod: Arc<Pod>,
    backoff: Backoff,
    /// Why containers wait, kept until they start (upstream's reason cache).
    reasons: BTreeMap<String, Waiting>,
    /// The pod's volumes, once set up.
    volumes: BTreeMap<String, volumes::Mounted>,
    /// The probes of its running containers.
    probes: PodProbes,
    /// Notified when a probe result changes.
    wake: Arc<Notify>,
    /// A static pod's mirror pod, as last seen or written.
    mirror: Option<Arc<Pod>>,
    /// Stopped for the node's shutdown or evicted (nothing more to do).
    shut_down: bool,
    /// Service-account tokens of its projected volumes.
    tokens: volumes::token::TokenCache,
}

fn rv(pod: &Pod) -> Option<u64> {
    pod.metadata.resource_version.as_deref()?.parse().ok()
}

fn field_path(pod: &Pod, name: &str) -> String {
    if podutil::init_containers(pod).iter().any(|c| c.name == name) {
        format!("spec.initContainers{{{name}}}")
    } else {
        format!("spec.containers{{{name}}}")
    }
}

/// Upstream's message for a failed lifecycle hook.
fn hook_message(action: Action<'_>, container: &str, pod: &Pod, error: &str) -> String {
    let what = match action {
        Action::Exec(cmd) => format!("Exec lifecycle hook ([{}])", cmd.join(" ")),
        Action::HttpGet(g) => format!("HTTP lifecycle hook ({})", g.path.as_deref().unwrap_or("/")),
        Action::Tcp(_) => "TCP lifecycle hook".to_string(),
        Action::Sleep(s) => format!("Sleep lifecycle hook ({s})"),
        Action::Unsupported(w) => w.to_string(),
    };
    format!(
        "{what} for Container \"{container}\" in Pod \"{}\" failed - error: {error}, message: \"\"",
        podutil::full_name(pod)
    )
}

fn find_container<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    podutil::containers(pod)
        .iter()
        .chain(podutil::init_containers(pod))
        .find(|c| c.name == name)
}

impl<R: Runtime> PodWorker<R> {
    /// A worker for `pod`.
    pub fn new(ctx: Arc<WorkerContext<R>>, pod: Arc<Pod>) -> Self {
        let wake = Arc::new(Notify::new());
        PodWorker {
            ctx,
            pod,
            backoff: Backoff::default(),
            reasons: BTreeMap::new(),
            volumes: BTreeMap::new(),
            probes: PodProbes::new(wake.clone()),
            wake,
            mirror: None,
            shut_down: false,
            tokens: Default::default(),
        }
    }

    /// The pod as the worker last knew it.
    pub fn pod(&self) -> &Pod {
        &self.pod
    }

    fn uid(&self) -> String {
        podutil::uid(&self.pod).to_string()
    }

    /// Takes `pod` unless the worker already holds a newer version (from its
    /// own status patch).
    pub fn absorb(&mut self, pod: Arc<Pod>) {
        let newer = match (rv(&pod), rv(&self.pod)) {
            (Some(a), Some(b)) => a >= b,
            _ => true,
        };
        if newer || pod.metadata.deletion_timestamp.is_some() {
            self.pod = pod;
        }
    }

    /// Takes the static pod's mirror unless the worker holds a newer version of it.
    pub fn absorb_mirror(&mut self, mirror: Option<Arc<Pod>>) {
        let keep = match (&mirror, &self.mirror) {
            (Some(new), Some(old)) => new.metadata.uid == old.metadata.uid && rv(old) > rv(new),
            _ => false,
        };
        if !keep {
            self.mirror = mirror;
        }
    }

    /// Runs until the pod is gone or `stop`, then reports its UID on `done`.
    pub async fn run(
        mut self,
        mut rx: watch::Receiver<PodUpdate>,
        done: mpsc::UnboundedSender<String>,
        stop: CancellationToken,
    ) {
        let uid = self.uid();
        let wake = self.wake.clone();
        loop {
            let update = rx.borrow_and_update().clone();
            self.absorb(update.pod.clone());
            self.absorb_mirror(update.mirror.clone());
            let wait = match self.sync(update.removed).await {
                Ok(Outcome::Done) => break,
                Ok(Outcome::Wait(d)) => d.unwrap_or(if self.refreshes_volumes() {
                    self.ctx.config.volume_refresh_period
                } else {
                    self.ctx.config.resync_period
                }),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "syncing the pod failed; retrying");
                    RETRY
                }
            };
            let timer = tokio::time::sleep(wait);
            tokio::pin!(timer);
            let ended = loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    changed = rx.changed() => {
                        if changed.is_err() {
                            break true;
                        }
                        // The watch echoing the worker's own status write: nothing to do.
                        if self.is_echo(&rx.borrow_and_update(), &update) {
                            continue;
                        }
                    }
                    _ = wake.notified() => {}
                    _ = &mut timer => {}
                }
                break false;
            };
            if ended {
                break;
            }
        }
        self.ctx.shutdown.pod_stopped(&uid);
        let _ = done.send(uid);
    }

    /// `next` only brings the version of the pod the worker already holds
    /// (its own status write coming back through the watch).
    fn is_echo(&self, next: &PodUpdate, last: &PodUpdate) -> bool {
        let same_mirror = match (&next.mirror, &last.mirror) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        !next.removed
            && next.wake == last.wake
            && same_mirror
            && rv(&next.pod).is_some()
            && rv(&next.pod) == rv(&self.pod)
            && next.pod.metadata.uid == self.pod.metadata.uid
    }

    /// The pod runs and has volumes whose contents follow API objects.
    fn refreshes_volumes(&self) -> bool {
        !podutil::is_terminal(&self.pod)
            && self
                .pod
                .spec
                .as_ref()
                .and_then(|s| s.volumes.as_ref())
                .into_iter()
                .flatten()
                .any(|v| {
                    v.config_map.is_some()
                        || v.secret.is_some()
                        || v.projected.is_some()
                        || v.downward_api.is_some()
                        || v.empty_dir.as_ref().is_some_and(|e| e.size_limit.is_some())
                })
    }

    fn event(&self, name: Option<&str>, type_: &str, reason: &str, message: String) {
        let path = name.map(|n| field_path(&self.pod, n));
        self.ctx.events.pod(&self.pod, path, type_, reason, message);
    }

    async fn load(&self) -> Result<PodRuntimeState, KubeletError> {
        Ok(pod_state::load(&*self.ctx.runtime, &self.ctx.config.node_name, &self.uid()).await?)
    }

    fn sandbox_config(&self, attempt: u32) -> proto::PodSandboxConfig {
        let pod = &self.pod;
        let log_dir = self.log_dir();
        let dns = ClusterDns {
            servers: &self.ctx.config.cluster_dns,
            domain: &self.ctx.config.cluster_domain,
            host: &self.ctx.host_resolv,
        };
        sandbox_config(pod, attempt, &self.ctx.config.node_name, &log_dir, &dns)
    }

    fn log_dir(&self) -> PathBuf {
        let m = &self.pod.metadata;
        self.ctx.config.pod_log_dir(
            m.namespace.as_deref().unwrap_or("default"),
            m.name.as_deref().unwrap_or(""),
            &self.uid(),
        )
    }

    fn hosts_path(&self) -> PathBuf {
        self.ctx.config.pod_dir(&self.uid()).join("etc-hosts")
    }

    /// One level-triggered pass over the pod.
    pub async fn sync(&mut self, removed: bool) -> Result<Outcome, KubeletError> {
        let state = self.load().await?;
        if removed || podutil::is_deleting(&self.pod) {
            return self.terminate(state, removed).await;
        }
        if self.ctx.shutdown.active() {
            return self.shut_down(state).await;
        }
        if self.shut_down {
            return Ok(Outcome::Wait(None));
        }
        if !podutil::is_terminal(&self.pod)
            && state.sandbox().is_some_and(|s| s.ready)
            && let Some(message) =
                volumes::size_limit::exceeded(&self.pod, &self.ctx.config.pod_dir(&self.uid()))
        {
            return self.evict(state, message).await;
        }
        // A container that runs again has nothing to wait for.
        self.reasons.retain(|name, _| {
            state
                .latest(name)
                .is_none_or(|c| c.state != RunState::Running)
        });
        let now = (self.ctx.clock)();
        let unhealthy = self.update_probes(&state, now);
        let mut plan = actions::compute(&self.pod, &state, &mut self.backoff, now, &unhealthy);
        let mut requeue = plan.requeue;
        // Volumes first (and refreshed on every sync, so ConfigMap and Secret
        // updates reach running containers); without them nothing starts.
        let starting = plan.create_sandbox.is_some() || !plan.start.is_empty();
        let has_volumes = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.as_ref())
            .is_some_and(|v| !v.is_empty());
        if has_volumes && (starting || state.sandbox().is_some_and(|s| s.ready)) {
            let mut objects = self.objects(volumes::references(&self.pod)).await;
            let wanted = volumes::token::sources(&self.pod);
            if !wanted.is_empty() {
                let client = self.ctx.client.as_ref();
                objects.tokens = self.tokens.tokens(client, &self.pod, &wanted).await;
            }
            let pod_dir = self.ctx.config.pod_dir(&self.uid());
            match volumes::setup(&self.pod, &pod_dir, &objects, &self.ctx.facts) {
                Ok(v) => self.volumes = v,
                Err(message) if starting => {
                    tracing::warn!(error = %message, "setting up volumes failed");
                    self.event(None, "Warning", "FailedMount", message);
                    plan.create_sandbox = None;
                    plan.start.clear();
                    requeue = Some(requeue.map_or(MOUNT_RETRY, |r| r.min(MOUNT_RETRY)));
                }
                Err(message) => tracing::warn!(error = %message, "refreshing volumes failed"),
            }
        }
        for (name, w) in &plan.waiting {
            if w.reason == "CrashLoopBackOff" {
                self.event(
                    Some(name),
                    "Warning",
                    "BackOff",
                    format!(
                        "Back-off restarting failed container {name} in pod {}",
                        podutil::full_name(&self.pod)
                    ),
                );
            }
            self.reasons.insert(name.clone(), w.clone());
        }
        let changed = plan
            != PodActions {
                waiting: plan.waiting.clone(),
                requeue: plan.requeue,
                ..Default::default()
            };
        if changed && let Some(d) = self.execute(&plan, &state, now).await? {
            requeue = Some(requeue.map_or(d, |r| r.min(d)));
        }
        let state = if changed { self.load().await? } else { state };
        self.report(&state, false).await?;
        self.backoff.gc(now);
        Ok(Outcome::Wait(requeue))
    }

    /// Starts the probes of the running containers of the current sandbox,
    /// stops those of other containers; returns the containers that failed
    /// their liveness or startup probe, with the `Killing` message.
    fn update_probes(
        &mut self,
        state: &PodRuntimeState,
        now: Timestamp,
    ) -> HashMap<String, String> {
        let pod_ip = self.pod_ip(state);
        let sandbox = state.sandbox().filter(|s| s.ready).map(|s| s.id.clone());
        let mut running = vec![];
        for c in podutil::containers(&self.pod) {
            let Some(r) = state.latest(&c.name).filter(|r| {
                r.state == RunState::Running && Some(&r.sandbox_id) == sandbox.as_ref()
            }) else {
                continue;
            };
            running.push(r.id.clone());
            let since = podutil::ts(r.started_at)
                .map(|t| Duration::try_from(now.duration_since(t)).unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::ZERO);
            self.probes.ensure(
                &self.ctx.runtime,
                &self.pod,
                c,
                &r.id,
                &pod_ip,
                since,
                &self.ctx.events,
            );
        }
        let ids: Vec<&str> = running.iter().map(String::as_str).collect();
        self.probes.retain(&ids);
        let mut unhealthy = HashMap::new();
        for (id, view) in self.probes.views() {
            let Some(kind) = view.failed else { continue };
            let name = state
                .containers
                .iter()
                .find(|c| c.id == id)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            let which = match kind {
                Kind::Startup => "startup",
                _ => "liveness",
            };
            unhealthy.insert(
                id,
                format!("Container {name} failed {which} probe, will be restarted"),
            );
        }
        unhealthy
    }

    /// Sends the status computed from `state`.
    async fn report(
        &mut self,
        state: &PodRuntimeState,
        terminated: bool,
    ) -> Result<(), KubeletError> {
        let new = self.compute_status(state, terminated);
        self.send_status(new).await
    }

    fn compute_status(&self, state: &PodRuntimeState, terminated: bool) -> PodStatus {
        let probes = self.probes.views();
        let input = StatusInput {
            state,
            waiting: &self.reasons,
            host_ip: &self.ctx.node_ip,
            terminated,
            now: (self.ctx.clock)(),
            probes: &probes,
        };
        // A static pod's status lives on its mirror pod.
        match self
            .mirror
            .as_ref()
            .filter(|_| static_pods::is_static(&self.pod))
        {
            Some(m) => {
                let mut base = (*self.pod).clone();
                base.status = m.status.clone();
                status::compute(&base, &input)
            }
            None => status::compute(&self.pod, &input),
        }
    }

    async fn send_status(&mut self, new: PodStatus) -> Result<(), KubeletError> {
        if static_pods::is_static(&self.pod) {
            if let (Some(sm), Some(mirror)) = (&self.ctx.status, &self.mirror)
                && mirror.metadata.deletion_timestamp.is_none()
                && let Some(updated) = sm.set(mirror, &new).await?
            {
                self.mirror = Some(Arc::new(updated));
            }
            return Ok(());
        }
        if let Some(sm) = &self.ctx.status {
            if let Some(updated) = sm.set(&self.pod, &new).await? {
                self.pod = Arc::new(updated);
            }
        } else {
            // No API (unit tests): keep the status locally.
            let mut pod = (*self.pod).clone();
            pod.status = Some(new);
            self.pod = Arc::new(pod);
        }
        Ok(())
    }

    /// Executes `plan`; returns how soon to sync again, when it matters.
    async fn execute(
        &mut self,
        plan: &PodActions,
        state: &PodRuntimeState,
        now: Timestamp,
    ) -> Result<Option<Duration>, KubeletError> {
        let rt = &*self.ctx.runtime;
        for id in &plan.remove_containers {
            if let Err(e) = rt.remove_container(id).await {
                tracing::debug!(container = %id, error = %e, "removing a dead container");
            }
        }
        for id in &plan.remove_sandboxes {
            if let Err(e) = rt.remove_pod_sandbox(id).await {
                tracing::debug!(sandbox = %id, error = %e, "removing a dead sandbox");
            }
        }
        let grace = Duration::from_secs(
            self.pod
                .spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
                .unwrap_or(30)
                .max(2) as u64,
        );
        if plan.kill_pod {
            self.kill_all(state, grace).await?;
        }
        let pod_ip = self.pod_ip(state);
        for k in &plan.kill {
            tracing::info!(container = %k.name, reason = k.reason, "stopping container");
            let running = state
                .containers
                .iter()
                .any(|c| c.id == k.id && c.state == RunState::Running);
            self.stop_one(&k.id, &k.name, running, grace, &pod_ip, k.message.clone())
                .await?;
        }

        let mut sandbox = state.sandbox().cloned();
        if let Some(attempt) = plan.create_sandbox {
            if attempt > 0 {
                self.event(
                    None,
                    "Normal",
                    "SandboxChanged",
                    "Pod sandbox changed, it will be killed and re-created.".into(),
                );
            }
            let log_dir = self.log_dir();
            std::fs::create_dir_all(&log_dir)
                .map_err(|e| KubeletError::io("creating", &log_dir, e))?;
            let config = self.sandbox_config(attempt);
            match rt.run_pod_sandbox(config).await {
                Ok(id) => {
                    tracing::info!(sandbox = %id, attempt, "pod sandbox started");
                    let st = rt.pod_sandbox_status(&id).await?;
                    let ips: Vec<String> = st
                        .network
                        .map(|n| {
                            std::iter::once(n.ip)
                                .chain(n.additional_ips.into_iter().map(|p| p.ip))
                                .filter(|ip| !ip.is_empty())
                                .collect()
                        })
                        .unwrap_or_default();
                    self.write_hosts(&ips)?;
                    sandbox = Some(pod_state::SandboxRecord {
                        id,
                        attempt,
                        ready: true,
                        created_at: st.created_at,
                        ips,
                    });
                }
                Err(e) => {
                    let message = format!("Failed to create pod sandbox: {}", e.user_message());
                    tracing::warn!(error = %message, "creating the pod sandbox failed");
                    self.event(None, "Warning", "FailedCreatePodSandBox", message);
                    return Ok(Some(RETRY));
                }
            }
        }
        let Some(sandbox) = sandbox else {
            return Ok(None);
        };
        let mut requeue: Option<Duration> = None;
        for start in &plan.start {
            if let Err(wait) = self.start_container(start, &sandbox, now).await {
                if let Some(d) = wait {
                    requeue = Some(requeue.map_or(d, |r| r.min(d)));
                }
                if start.init {
                    break;
                }
            }
        }
        Ok(requeue)
    }

    fn write_hosts(&self, ips: &[String]) -> Result<(), KubeletError> {
        if podutil::host_network(&self.pod) {
            return Ok(());
        }
        let path = self.hosts_path();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| KubeletError::io("creating", dir, e))?;
        }
        let text = hosts_file(&self.pod, ips, &self.ctx.config.cluster_domain);
        std::fs::write(&path, text).map_err(|e| KubeletError::io("writing", &path, e))
    }

    async fn objects(&self, (cms, secrets): (Vec<String>, Vec<String>)) -> EnvObjects {
        let mut objects = EnvObjects::default();
        let Some(client) = &self.ctx.client else {
            return objects;
        };
        let ns = self.pod.metadata.namespace.as_deref().unwrap_or("default");
        let cm_api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        for name in cms {
            let got = cm_api.get_opt(&name).await.ok().flatten();
            objects.config_maps.insert(name, got);
        }
        let secret_api: Api<Secret> = Api::namespaced(client.clone(), ns);
        for name in secrets {
            let got = secret_api.get_opt(&name).await.ok().flatten();
            objects.secrets.insert(name, got);
        }
        objects
    }

    /// The Service variables of the pod's containers.
    async fn service_env(&self) -> Vec<(String, String)> {
        let Some(client) = &self.ctx.client else {
            return vec![];
        };
        let ns = self.pod.metadata.namespace.as_deref().unwrap_or("default");
        let mut services: Vec<Service> = vec![];
        let links = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.enable_service_links)
            .unwrap_or(true);
        if links {
            let api: Api<Service> = Api::namespaced(client.clone(), ns);
            match api.list(&Default::default()).await {
                Ok(list) => services.extend(list.items),
                Err(e) => tracing::warn!(error = %e, "listing services for the environment failed"),
            }
        }
        if !links || ns != service_env::MASTER_NAMESPACE {
            let api: Api<Service> = Api::namespaced(client.clone(), service_env::MASTER_NAMESPACE);
            if let Ok(Some(k)) = api.get_opt("kubernetes").await {
                services.push(k);
            }
        }
        service_env::variables(&service_env::select(&self.pod, &services))
    }

    /// Pulls, creates and starts one container; on failure records why it
    /// waits and returns when to try again.
    async fn start_container(
        &mut self,
        start: &Start,
        sandbox: &pod_state::SandboxRecord,
        now: Timestamp,
    ) -> Result<(), Option<Duration>> {
        let pod = self.pod.clone();
        let Some(c) = find_container(&pod, &start.name) else {
            return Err(None);
        };
        let name = c.name.as_str();
        let rt = &*self.ctx.runtime;
        let sandbox_config = self.sandbox_config(sandbox.attempt);

        let mut pull_events = vec![];
        let pulled = images::ensure(
            rt,
            c,
            &sandbox_config,
            &mut self.backoff,
            now,
            &mut pull_events,
        )
        .await;
        for e in pull_events {
            self.event(Some(name), e.type_, e.reason, e.message);
        }
        let image_ref = match pulled {
            Ok(r) => r,
            Err(w) => {
                let retry = self.backoff.remaining_since_update(
                    &format!("pull/{}", c.image.as_deref().unwrap_or("")),
                    now,
                );
                self.reasons.insert(name.to_string(), w);
                return Err(retry.or(Some(RETRY)));
            }
        };

        let facts = NodeFacts {
            pod_ips: sandbox.ips.clone(),
            ..self.ctx.facts.clone()
        };
        let mut objects = self.objects(env::references(c)).await;
        objects.service_env = self.service_env().await;
        let env = match env::resolve(&pod, c, &objects, &facts) {
            Ok(env) => env,
            Err(message) => {
                self.event(Some(name), "Warning", "Failed", format!("Error: {message}"));
                self.reasons.insert(
                    name.to_string(),
                    Waiting {
                        reason: "CreateContainerConfigError".into(),
                        message,
                    },
                );
                return Err(Some(RETRY));
            }
        };
        let mut mounts = match volumes::mounts(c, &self.volumes) {
            Ok(m) => m,
            Err(message) => {
                self.event(Some(name), "Warning", "Failed", format!("Error: {message}"));
                self.reasons.insert(
                    name.to_string(),
                    Waiting {
                        reason: "CreateContainerConfigError".into(),
                        message,
                    },
                );
                return Err(Some(RETRY));
            }
        };
        let mounts_hosts = !mounts.iter().any(|m| m.container_path == "/etc/hosts");
        if mounts_hosts && !podutil::host_network(&pod) {
            let hosts = self.hosts_path();
            if !hosts.exists() && self.write_hosts(&sandbox.ips).is_err() {
                tracing::warn!(path = %hosts.display(), "cannot write the pod's hosts file");
            }
            if hosts.exists() {
                mounts.push(proto::Mount {
                    container_path: "/etc/hosts".into(),
                    host_path: hosts.display().to_string(),
                    ..Default::default()
                });
            }
        }
        let pod_dir = self.ctx.config.pod_dir(&self.uid());
        mounts.extend(crate::termination_message::mount(&pod_dir, c, &mounts));
        let config = container_config(
            &pod,
            c,
            ContainerContext {
                node: self.ctx.config.node_name.clone(),
                image_ref,
                restart_count: start.restart_count,
                env,
                mounts,
                memory_capacity: self.ctx.memory_capacity,
            },
        );
        let id = match rt
            .create_container(&sandbox.id, config, sandbox_config)
            .await
        {
            Ok(id) => id,
            Err(e) => {
                let message = e.user_message();
                self.event(Some(name), "Warning", "Failed", format!("Error: {message}"));
                self.reasons.insert(
                    name.to_string(),
                    Waiting {
                        reason: "CreateContainerError".into(),
                        message,
                    },
                );
                return Err(Some(RETRY));
            }
        };
        self.event(
            Some(name),
            "Normal",
            "Created",
            format!("Created container: {name}"),
        );
        if let Err(e) = rt.start_container(&id).await {
            let message = e.user_message();
            self.event(Some(name), "Warning", "Failed", format!("Error: {message}"));
            self.reasons.insert(
                name.to_string(),
                Waiting {
                    reason: "RunContainerError".into(),
                    message,
                },
            );
            return Err(Some(RETRY));
        }
        // postStart blocks the pod's worker until it is done, as upstream.
        let post_start = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref());
        if let Some(action) = post_start.and_then(Action::of_hook) {
            let pod_ip = sandbox
                .ips
                .first()
                .cloned()
                .unwrap_or_else(|| self.ctx.node_ip.clone());
            let target = Target {
                container_id: &id,
                container: c,
                pod_ip: &pod_ip,
            };
            if let Err(e) = handlers::run_hook(rt, action, &target, Duration::ZERO).await {
                let message = hook_message(action, name, &pod, &e);
                tracing::warn!(container = name, error = %message, "postStart hook failed");
                self.event(
                    Some(name),
                    "Warning",
                    "FailedPostStartHook",
                    message.clone(),
                );
                let grace = Duration::from_secs(
                    pod.spec
                        .as_ref()
                        .and_then(|s| s.termination_grace_period_seconds)
                        .unwrap_or(30)
                        .max(2) as u64,
                );
                let _ = self
                    .stop_one(
                        &id,
                        name,
                        true,
                        grace,
                        &pod_ip,
                        format!("FailedPostStartHook: stopping container {name}"),
                    )
                    .await;
                self.reasons.insert(
                    name.to_string(),
                    Waiting {
                        reason: "PostStartHookError".into(),
                        message,
                    },
                );
                return Err(Some(RETRY));
            }
        }
        tracing::info!(container = name, id = %id, restart_count = start.restart_count, "container started");
        self.event(
            Some(name),
            "Normal",
            "Started",
            format!("Started container {name}"),
        );
        self.reasons.remove(name);
        Ok(())
    }

    /// The address hooks and probes reach the pod at.
    fn pod_ip(&self, state: &PodRuntimeState) -> String {
        if podutil::host_network(&self.pod) {
            return self.ctx.node_ip.clone();
        }
        state
            .sandbox()
            .and_then(|s| s.ips.first().cloned())
            .unwrap_or_default()
    }

    /// Stops one container: its preStop hook first (within `grace`), then the
    /// stop signal, then SIGKILL when what is left of `grace` (at least 2 s,
    /// upstream's extension for a late preStop) runs out.
    async fn stop_one(
        &self,
        id: &str,
        name: &str,
        running: bool,
        grace: Duration,
        pod_ip: &str,
        message: String,
    ) -> Result<(), KubeletError> {
        let rt = &*self.ctx.runtime;
        self.event(Some(name), "Normal", "Killing", message);
        let mut grace = grace;
        let pre_stop = find_container(&self.pod, name)
            .and_then(|c| Some((c, c.lifecycle.as_ref()?.pre_stop.as_ref()?)));
        if running
            && let Some((c, hook)) = pre_stop
            && let Some(action) = Action::of_hook(hook)
        {
            let started = std::time::Instant::now();
            let target = Target {
                container_id: id,
                container: c,
                pod_ip,
            };
            let hook = handlers::run_hook(rt, action, &target, grace);
            match tokio::time::timeout(grace, hook).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    let msg = hook_message(action, name, &self.pod, &e);
                    tracing::warn!(container = name, error = %msg, "preStop hook failed");
                    self.event(Some(name), "Warning", "FailedPreStopHook", msg);
                }
                Err(_) => {
                    tracing::info!(container = name, "preStop hook outlasted the grace period")
                }
            }
            // Whole seconds, as upstream counts them.
            let spent = Duration::from_secs(started.elapsed().as_secs());
            grace = grace.saturating_sub(spent).max(MIN_GRACE);
        }
        match rt.stop_container(id, grace).await {
            Err(e) if !e.is_not_found() => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Stops every live container (in parallel, within `grace`) and every
    /// sandbox of the pod.
    async fn kill_all(&self, state: &PodRuntimeState, grace: Duration) -> Result<(), KubeletError> {
        let rt = &*self.ctx.runtime;
        let pod_ip = self.pod_ip(state);
        let stops = state.live_containers().map(|c| {
            self.stop_one(
                &c.id,
                &c.name,
                c.state == RunState::Running,
                grace,
                &pod_ip,
                format!("Stopping container {}", c.name),
            )
        });
        for r in join_all(stops).await {
            r?;
        }
        for sb in state.sandboxes.iter().filter(|s| s.ready) {
            match rt.stop_pod_sandbox(&sb.id).await {
                Err(e) if !e.is_not_found() => return Err(e.into()),
                _ => {}
            }
        }
        Ok(())
    }

    /// Evicts the pod as upstream's eviction manager does when a disk-backed
    /// emptyDir outgrows its sizeLimit: stops it at once and reports it
    /// Failed with reason Evicted; the object stays.
    async fn evict(
        &mut self,
        state: PodRuntimeState,
        message: String,
    ) -> Result<Outcome, KubeletError> {
        tracing::warn!(%message, "evicting the pod");
        self.event(None, "Warning", "Evicted", message.clone());
        self.kill_all(&state, Duration::ZERO).await?;
        let state = self.load().await?;
        let mut status = self.compute_status(&state, true);
        crate::shutdown::mark_failed(&mut status, "Evicted", &message, (self.ctx.clock)());
        self.send_status(status).await?;
        self.shut_down = true;
        Ok(Outcome::Wait(None))
    }

    /// Stops the pod for the node's shutdown and reports it Failed (or
    /// rejected, when it never started here); the object stays.
    async fn shut_down(&mut self, state: PodRuntimeState) -> Result<Outcome, KubeletError> {
        if self.shut_down {
            self.ctx.shutdown.pod_stopped(&self.uid());
            return Ok(Outcome::Wait(None));
        }
        let terminal = self
            .pod
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|p| p == "Succeeded" || p == "Failed");
        let started = !state.sandboxes.is_empty() || !state.containers.is_empty();
        if state.live_containers().next().is_some() || state.sandboxes.iter().any(|s| s.ready) {
            let grace = self
                .ctx
                .shutdown
                .grace_for(&self.pod, podutil::grace_period(&self.pod));
            tracing::info!(
                grace_seconds = grace.as_secs(),
                "stopping the pod for the node's shutdown"
            );
            self.kill_all(&state, grace).await?;
        }
        if !terminal {
            let state = self.load().await?;
            let mut status = self.compute_status(&state, true);
            crate::shutdown::mark_status(&mut status, started, (self.ctx.clock)());
            self.send_status(status).await?;
        }
        self.shut_down = true;
        self.ctx.shutdown.pod_stopped(&self.uid());
        Ok(Outcome::Wait(None))
    }

    /// Stops and removes everything of a pod being deleted, reports its final
    /// status and deletes the object.
    async fn terminate(
        &mut self,
        state: PodRuntimeState,
        removed: bool,
    ) -> Result<Outcome, KubeletError> {
        let grace = podutil::grace_period(&self.pod);
        if state.live_containers().next().is_some() || state.sandboxes.iter().any(|s| s.ready) {
            tracing::info!(grace_seconds = grace.as_secs(), "stopping the pod");
            self.kill_all(&state, grace).await?;
        }
        let state = self.load().await?;
        // The final status comes from the stopped containers; it is sent once
        // they are removed (the API server may drop the object on that write).
        let last = (!removed).then(|| self.compute_status(&state, true));
        let rt = &*self.ctx.runtime;
        for c in &state.containers {
            match rt.remove_container(&c.id).await {
                Err(e) if !e.is_not_found() => return Err(e.into()),
                _ => {}
            }
        }
        for sb in &state.sandboxes {
            match rt.remove_pod_sandbox(&sb.id).await {
                Err(e) if !e.is_not_found() => return Err(e.into()),
                _ => {}
            }
        }
        volumes::unmount_all(&self.ctx.config.pod_dir(&self.uid()));
        for dir in [self.ctx.config.pod_dir(&self.uid()), self.log_dir()] {
            if let Err(e) = std::fs::remove_dir_all(&dir)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(path = %dir.display(), error = %e, "removing the pod's files");
            }
        }
        if let Some(last) = last {
            self.send_status(last).await?;
            if let Some(sm) = &self.ctx.status {
                sm.delete(&self.pod).await?;
            }
        }
        tracing::info!("pod removed");
        Ok(Outcome::Done)
    }
}

/// Stops and removes everything the runtime holds for a pod the API no
/// longer knows (left by an earlier run of the agent).
pub async fn remove_orphan<R: Runtime>(
    runtime: &R,
    node: &str,
    uid: &str,
    config: &KubeletConfig,
) -> Result<(), KubeletError> {
    let state = pod_state::load(runtime, node, uid).await?;
    for c in state.live_containers() {
        let _ = runtime.stop_container(&c.id, Duration::from_secs(2)).await;
    }
    for c in &state.containers {
        let _ = runtime.remove_container(&c.id).await;
    }
    for sb in &state.sandboxes {
        let _ = runtime.stop_pod_sandbox(&sb.id).await;
        runtime.remove_pod_sandbox(&sb.id).await?;
    }
    volumes::unmount_all(&config.pod_dir(uid));
    let _ = std::fs::remove_dir_all(config.pod_dir(uid));
    let suffix = format!("_{uid}");
    if let Ok(dirs) = std::fs::read_dir(config.root_dir.join("logs")) {
        for d in dirs.flatten() {
            if d.file_name().to_string_lossy().ends_with(&suffix) {
                let _ = std::fs::remove_dir_all(d.path());
            }
        }
    }
    Ok(())
}
