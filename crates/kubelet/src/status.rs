//! Computes a pod's API status from its spec, what the runtime holds and why
//! containers wait, as upstream's `generateAPIPodStatus` and `getPhase`.
//! Pure: the status manager sends it.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
    VolumeMountStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::actions::Waiting;
use crate::pod_state::{ContainerRecord, PodRuntimeState, RunState};
use crate::podutil::{self, RestartPolicy, ts};
use crate::prober::ProbeView;
use crate::termination_message;

/// The conditions the kubelet owns, in the order upstream reports them.
pub const KUBELET_CONDITIONS: [&str; 5] = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
];

/// What the status is computed from besides the pod itself.
#[derive(Debug, Clone, Copy)]
pub struct StatusInput<'a> {
    /// What the runtime holds for the pod.
    pub state: &'a PodRuntimeState,
    /// Why containers wait (back-off, pull and config errors), by name.
    pub waiting: &'a BTreeMap<String, Waiting>,
    /// The node's address (`hostIP`).
    pub host_ip: &'a str,
    /// The pod was stopped for good (deleted): its phase becomes terminal.
    pub terminated: bool,
    /// Now, for new transition times.
    pub now: Timestamp,
    /// Probe results by container id (containers without probes are absent).
    pub probes: &'a HashMap<String, ProbeView>,
}

fn time(t: Option<Timestamp>) -> Option<Time> {
    t.map(Time)
}

fn container_id(id: &str) -> String {
    format!("containerd://{id}")
}

/// The API state of one runtime instance.
fn api_state(r: &ContainerRecord) -> ContainerState {
    match r.state {
        RunState::Running => ContainerState {
            running: Some(ContainerStateRunning {
                started_at: time(ts(r.started_at)),
            }),
            ..Default::default()
        },
        RunState::Exited => {
            let reason = if !r.reason.is_empty() {
                r.reason.clone()
            } else if r.exit_code == 0 {
                "Completed".into()
            } else {
                "Error".into()
            };
            ContainerState {
                terminated: Some(ContainerStateTerminated {
                    container_id: Some(container_id(&r.id)),
                    exit_code: r.exit_code,
                    reason: Some(reason),
                    message: Some(r.message.clone()).filter(|m| !m.is_empty()),
                    started_at: time(ts(r.started_at)),
                    finished_at: time(ts(r.finished_at)),
                    signal: None,
                }),
                ..Default::default()
            }
        }
        RunState::Created => waiting("ContainerCreating", ""),
        RunState::Unknown => ContainerState {
            waiting: Some(ContainerStateWaiting::default()),
            ..Default::default()
        },
    }
}

fn waiting(reason: &str, message: &str) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_string()),
            message: Some(message.to_string()).filter(|m| !m.is_empty()),
        }),
        ..Default::default()
    }
}

fn volume_mounts(c: &Container) -> Option<Vec<VolumeMountStatus>> {
    let mounts = c.volume_mounts.as_ref().filter(|m| !m.is_empty())?;
    Some(
        mounts
            .iter()
            .map(|m| VolumeMountStatus {
                mount_path: m.mount_path.clone(),
                name: m.name.clone(),
                read_only: m.read_only.filter(|r| *r),
                recursive_read_only: m.read_only.filter(|r| *r).map(|_| "Disabled".to_string()),
            })
            .collect(),
    )
}

fn container_status(
    c: &Container,
    input: &StatusInput<'_>,
    default_reason: &str,
    init: bool,
) -> ContainerStatus {
    let state = input.state;
    let mut status = ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        volume_mounts: volume_mounts(c),
        ..Default::default()
    };
    match state.latest(&c.name) {
        None => {
            status.state = Some(waiting(default_reason, ""));
            status.started = Some(false);
        }
        Some(r) => {
            let s = api_state(r);
            let running = s.running.is_some();
            let succeeded = s.terminated.as_ref().is_some_and(|t| t.exit_code == 0);
            status.state = Some(s);
            status.container_id = Some(container_id(&r.id));
            if !r.image.is_empty() {
                status.image = r.image.clone();
            }
            status.image_id = r.image_ref.clone();
            status.restart_count = i32::try_from(r.restart_count).unwrap_or(i32::MAX);
            // A container whose probes are not running yet (it just
            // started) is neither started nor ready, as upstream.
            let probe = input
                .probes
                .get(&r.id)
                .copied()
                .unwrap_or_else(|| ProbeView::initial(c));
            let started = running && probe.started != Some(false);
            status.started = Some(started);
            status.ready = if init && !podutil::is_sidecar(c) {
                succeeded
            } else {
                started && probe.ready != Some(false)
            };
            if let Some(prev) = state.previous(&c.name) {
                let last = api_state(prev);
                if last.terminated.is_some() {
                    status.last_state = Some(last);
                }
            }
        }
    }
    if let Some(w) = input.waiting.get(&c.name) {
        let current = status.state.take().unwrap_or_default();
        if current.terminated.is_some() {
            status.last_state = Some(current);
        }
        status.state = Some(waiting(&w.reason, &w.message));
        status.ready = false;
        status.started = Some(false);
    }
    if status.last_state.is_none() {
        status.last_state = Some(ContainerState::default());
    }
    status
}

/// Upstream's `getPhase` for the app containers (after initialization).
fn phase(
    pod: &Pod,
    init: &[ContainerStatus],
    app: &[ContainerStatus],
    terminated: bool,
) -> &'static str {
    let policy = RestartPolicy::of(pod);
    let (mut pending_init, mut failed_init) = (0, 0);
    for (c, s) in podutil::init_containers(pod).iter().zip(init) {
        if podutil::is_sidecar(c) {
            if s.started != Some(true) && !any_app_started(app) {
                pending_init += 1;
            }
            continue;
        }
        let st = s.state.as_ref();
        let last = s.last_state.as_ref().and_then(|l| l.terminated.as_ref());
        match (
            st.and_then(|s| s.terminated.as_ref()),
            st.and_then(|s| s.waiting.as_ref()),
        ) {
            (Some(t), _) if t.exit_code != 0 => failed_init += 1,
            (Some(_), _) => {}
            (None, Some(_)) => match last {
                Some(t) if t.exit_code != 0 => failed_init += 1,
                Some(_) => {}
                None => pending_init += 1,
            },
            _ => pending_init += 1,
        }
    }
    if failed_init > 0 && policy == RestartPolicy::Never {
        return "Failed";
    }
    let (mut waiting, mut running, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for s in app {
        let st = s.state.as_ref();
        if st.is_some_and(|s| s.running.is_some()) {
            running += 1;
        } else if let Some(t) = st.and_then(|s| s.terminated.as_ref()) {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if s
            .last_state
            .as_ref()
            .is_some_and(|l| l.terminated.is_some())
        {
            stopped += 1;
        } else {
            waiting += 1;
        }
    }
    if terminated {
        // Stopped for good: nothing restarts any more.
        return if app.len() == succeeded {
            "Succeeded"
        } else {
            "Failed"
        };
    }
    if (pending_init > 0 || failed_init > 0) && !any_app_started(app) || waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped > 0 {
        return match policy {
            RestartPolicy::Always => "Running",
            _ if stopped == succeeded => "Succeeded",
            RestartPolicy::Never => "Failed",
            RestartPolicy::OnFailure => "Running",
        };
    }
    "Pending"
}

fn any_app_started(app: &[ContainerStatus]) -> bool {
    app.iter().any(|s| {
        s.container_id.is_some()
            || s.last_state
                .as_ref()
                .is_some_and(|l| l.terminated.is_some())
    })
}

fn condition(ty: &str, ok: bool, reason: Option<&str>, message: Option<String>) -> PodCondition {
    PodCondition {
        type_: ty.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: reason.map(str::to_string),
        message,
        ..Default::default()
    }
}

fn names(list: &[&str]) -> String {
    format!("[{}]", list.join(" "))
}

/// The kubelet's conditions, in upstream's order.
fn conditions(
    pod: &Pod,
    input: &StatusInput<'_>,
    init: &[ContainerStatus],
    app: &[ContainerStatus],
    phase: &str,
) -> Vec<PodCondition> {
    let host_network = podutil::host_network(pod);
    let sandbox_ok = input
        .state
        .sandbox()
        .is_some_and(|s| s.ready && (host_network || !s.ips.is_empty()));
    let mut out = vec![condition(
        "PodReadyToStartContainers",
        sandbox_ok,
        None,
        None,
    )];

    let incomplete: Vec<&str> = podutil::init_containers(pod)
        .iter()
        .zip(init)
        .filter(|(c, s)| {
            if podutil::is_sidecar(c) {
                s.started != Some(true)
            } else {
                !s.ready
            }
        })
        .map(|(c, _)| c.name.as_str())
        .collect();
    let initialized = incomplete.is_empty() || any_app_started(app);
    out.push(if phase == "Succeeded" {
        condition("Initialized", true, Some("PodCompleted"), None)
    } else if initialized {
        condition("Initialized", true, None, None)
    } else {
        condition(
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(format!(
                "containers with incomplete status: {}",
                names(&incomplete)
            )),
        )
    });

    let unready: Vec<&str> = podutil::containers(pod)
        .iter()
        .zip(app)
        .filter(|(_, s)| !s.ready)
        .map(|(c, _)| c.name.as_str())
        .chain(
            podutil::init_containers(pod)
                .iter()
                .zip(init)
                .filter(|(c, s)| podutil::is_sidecar(c) && !s.ready)
                .map(|(c, _)| c.name.as_str()),
        )
        .collect();
    let containers_ready = if phase == "Succeeded" {
        condition("ContainersReady", false, Some("PodCompleted"), None)
    } else if unready.is_empty() {
        condition("ContainersReady", true, None, None)
    } else {
        condition(
            "ContainersReady",
            false,
            Some("ContainersNotReady"),
            Some(format!(
                "containers with unready status: {}",
                names(&unready)
            )),
        )
    };
    let mut ready = containers_ready.clone();
    ready.type_ = "Ready".into();
    if ready.status == "True"
        && let Some(gate) = unready_gate(pod)
    {
        ready = condition("Ready", false, Some("ReadinessGatesNotReady"), Some(gate));
    }
    out.push(ready);
    out.push(containers_ready);
    out.push(condition("PodScheduled", true, None, None));
    out
}

/// The message of the first readiness gate whose condition is not True.
fn unready_gate(pod: &Pod) -> Option<String> {
    let gates = pod.spec.as_ref()?.readiness_gates.as_ref()?;
    let conds = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    for g in gates {
        let t = &g.condition_type;
        match conds.and_then(|cs| cs.iter().find(|c| &c.type_ == t)) {
            None => {
                return Some(format!(
                    "corresponding condition of pod readiness gate \"{t}\" does not exist."
                ));
            }
            Some(c) if c.status != "True" => {
                return Some(format!(
                    "the status of pod readiness gate \"{t}\" is not \"True\", but {}",
                    c.status
                ));
            }
            Some(_) => {}
        }
    }
    None
}

/// Keeps each condition's transition time (and PodScheduled whole) from the
/// old status when its status did not change; appends the conditions other
/// components own.
fn merge_conditions(
    new: Vec<PodCondition>,
    old: &[PodCondition],
    now: Timestamp,
) -> Vec<PodCondition> {
    let mut out = Vec::with_capacity(new.len() + 2);
    for mut c in new {
        let prev = old.iter().find(|o| o.type_ == c.type_);
        if c.type_ == "PodScheduled"
            && let Some(p) = prev
        {
            out.push(p.clone());
            continue;
        }
        c.last_transition_time = match prev {
            Some(p) if p.status == c.status && p.last_transition_time.is_some() => {
                p.last_transition_time.clone()
            }
            _ => Some(Time(now)),
        };
        c.last_probe_time = prev.and_then(|p| p.last_probe_time.clone());
        out.push(c);
    }
    out.extend(
        old.iter()
            .filter(|o| !KUBELET_CONDITIONS.contains(&o.type_.as_str()))
            .cloned(),
    );
    out
}

/// The QoS class upstream assigns from requests and limits.
pub fn qos_class(pod: &Pod) -> &'static str {
    let all: Vec<&Container> = podutil::containers(pod)
        .iter()
        .chain(podutil::init_containers(pod))
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in all {
        let r = c.resources.as_ref();
        let requests = r.and_then(|r| r.requests.as_ref());
        let limits = r.and_then(|r| r.limits.as_ref());
        for res in ["cpu", "memory"] {
            let req = requests.and_then(|m| m.get(res)).map(|q| q.0.as_str());
            let lim = limits.and_then(|m| m.get(res)).map(|q| q.0.as_str());
            if req.is_some() || lim.is_some() {
                any = true;
            }
            match (req, lim) {
                (_, None) => guaranteed = false,
                (Some(a), Some(b)) if a != b => guaranteed = false,
                _ => {}
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// The pod's status as the kubelet reports it.
pub fn compute(pod: &Pod, input: &StatusInput<'_>) -> PodStatus {
    let old = pod.status.clone().unwrap_or_default();
    let has_init = !podutil::init_containers(pod).is_empty();
    let mut init: Vec<ContainerStatus> = podutil::init_containers(pod)
        .iter()
        .map(|c| container_status(c, input, "PodInitializing", true))
        .collect();
    let default_reason = if has_init {
        "PodInitializing"
    } else {
        "ContainerCreating"
    };
    let mut app: Vec<ContainerStatus> = podutil::containers(pod)
        .iter()
        .map(|c| container_status(c, input, default_reason, false))
        .collect();
    termination_message::share(&mut init, &mut app);
    let mut phase = phase(pod, &init, &app, input.terminated);
    // A finished pod never goes back.
    if let Some(p @ ("Succeeded" | "Failed")) = old.phase.as_deref() {
        phase = if p == "Succeeded" {
            "Succeeded"
        } else {
            "Failed"
        };
    }
    let conds = conditions(pod, input, &init, &app, phase);
    let conditions = merge_conditions(conds, old.conditions.as_deref().unwrap_or(&[]), input.now);

    let ips: Vec<String> = input
        .state
        .sandbox()
        .filter(|s| s.ready)
        .map(|s| s.ips.clone())
        .unwrap_or_default();
    let (pod_ip, pod_ips) = if podutil::host_network(pod) {
        (
            Some(input.host_ip.to_string()),
            Some(vec![PodIP {
                ip: input.host_ip.to_string(),
            }]),
        )
    } else if let Some(first) = ips.first() {
        (
            Some(first.clone()),
            Some(ips.iter().map(|ip| PodIP { ip: ip.clone() }).collect()),
        )
    } else {
        // Keep the address a stopped pod had.
        (old.pod_ip.clone(), old.pod_ips.clone())
    };

    PodStatus {
        phase: Some(phase.to_string()),
        conditions: Some(conditions),
        host_ip: Some(input.host_ip.to_string()),
        host_ips: Some(vec![HostIP {
            ip: input.host_ip.to_string(),
        }]),
        pod_ip,
        pod_ips,
        start_time: old.start_time.clone().or(Some(Time(input.now))),
        qos_class: old.qos_class.clone().or(Some(qos_class(pod).to_string())),
        init_container_statuses: has_init.then_some(init),
        container_statuses: Some(app),
        // What other components own.
        nominated_node_name: old.nominated_node_name.clone(),
        resize: old.resize.clone(),
        resource_claim_statuses: old.resource_claim_statuses.clone(),
        ephemeral_container_statuses: old.ephemeral_container_statuses.clone(),
        message: None,
        reason: None,
        observed_generation: None,
    }
}
