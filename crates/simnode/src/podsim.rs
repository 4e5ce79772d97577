//! The simulated kubelet's view of one pod: init containers, containers, phase and conditions.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};
use tokio::time::Instant;

use crate::command::{Behaviour, classify};
use crate::container::{ContainerSim, RestartPolicy, State};

/// The pod phase as the node reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed)
    }
}

/// The state of one readiness gate's condition on the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Missing(String),
    NotTrue(String, String),
}

/// The conditions the node owns, in the kubelet's order.
pub const CONDITIONS: [&str; 4] = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
];

/// A condition's status and the instant it last changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cond {
    pub status: bool,
    pub since: Instant,
}

/// One simulated pod.
#[derive(Debug, Clone)]
pub struct PodSim {
    pub policy: RestartPolicy,
    pub init: Vec<ContainerSim>,
    pub containers: Vec<ContainerSim>,
    pub ready_delay: Duration,
    pub started: Instant,
    /// The first readiness gate whose condition is not True, if any.
    pub gate: Option<Gate>,
    /// Whether the pod already carries a PodScheduled condition (else we add one).
    pub has_scheduled: bool,
    /// Statuses of [`CONDITIONS`].
    pub conds: [Cond; 4],
}

fn sims(list: Option<&Vec<Container>>, init: bool) -> Vec<ContainerSim> {
    list.map(|cs| {
        cs.iter()
            .map(|c| {
                let b = classify(
                    c.command.as_deref().unwrap_or_default(),
                    c.args.as_deref().unwrap_or_default(),
                );
                // Init containers always finish; one that would run forever is done at once.
                let b = match (init, b) {
                    (true, Behaviour::Forever) => Behaviour::Exit {
                        code: 0,
                        after: Duration::ZERO,
                    },
                    (_, b) => b,
                };
                ContainerSim::new(c.name.clone(), c.image.clone().unwrap_or_default(), b)
            })
            .collect()
    })
    .unwrap_or_default()
}

/// The first readiness gate of `pod` whose condition is not True.
pub fn unready_gate(pod: &Pod) -> Option<Gate> {
    let spec = pod.spec.as_ref()?;
    let conds = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    spec.readiness_gates.iter().flatten().find_map(|g| {
        let t = &g.condition_type;
        match conds.and_then(|cs| cs.iter().find(|c| &c.type_ == t)) {
            None => Some(Gate::Missing(t.clone())),
            Some(c) if c.status == "True" => None,
            Some(c) => Some(Gate::NotTrue(t.clone(), c.status.clone())),
        }
    })
}

impl PodSim {
    /// Starts simulating `pod` at `now`: the first init container (or every
    /// container) starts running.
    pub fn new(pod: &Pod, now: Instant, ready_delay: Duration) -> Self {
        let spec = pod.spec.as_ref();
        let has_scheduled = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "PodScheduled"));
        let cond = Cond {
            status: false,
            since: now,
        };
        let mut sim = PodSim {
            policy: RestartPolicy::parse(spec.and_then(|s| s.restart_policy.as_deref())),
            init: sims(
                spec.map(|s| &s.init_containers).and_then(Option::as_ref),
                true,
            ),
            containers: sims(spec.map(|s| &s.containers), false),
            ready_delay,
            started: now,
            gate: unready_gate(pod),
            has_scheduled,
            conds: [cond; 4],
        };
        match sim.init.first_mut() {
            Some(c) => c.start(now),
            None => sim.containers.iter_mut().for_each(|c| c.start(now)),
        }
        sim.conds = sim.compute_conds(now, now);
        sim.conds[0].status = true;
        sim
    }

    /// Init containers must restart on failure unless the policy is Never.
    fn init_policy(&self) -> RestartPolicy {
        match self.policy {
            RestartPolicy::Never => RestartPolicy::Never,
            _ => RestartPolicy::OnFailure,
        }
    }

    /// Whether every init container has exited successfully.
    pub fn initialized(&self) -> bool {
        self.init
            .iter()
            .all(|c| c.finished().is_some_and(|t| t.code == 0))
    }

    /// Whether an init container failed for good (the pod fails).
    fn init_failed(&self) -> bool {
        self.init
            .iter()
            .any(|c| c.finished().is_some_and(|t| t.code != 0))
    }

    /// Applies every transition due by `now`; returns when to call again.
    pub fn advance(&mut self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut merge = |n: Option<Instant>| {
            if let Some(n) = n {
                next = Some(next.map_or(n, |m| m.min(n)));
            }
        };
        let init_policy = self.init_policy();
        // Init containers run one after another, each starting when the previous one exits.
        let mut prev_end = self.started;
        for i in 0..self.init.len() {
            let c = &mut self.init[i];
            c.start(prev_end);
            let n = c.advance(now, init_policy, Duration::ZERO);
            match c.finished() {
                Some(t) if t.code == 0 => prev_end = t.finished,
                _ => {
                    merge(n);
                    break;
                }
            }
        }
        if self.initialized() {
            for c in &mut self.containers {
                c.start(prev_end);
                merge(c.advance(now, self.policy, self.ready_delay));
            }
        }
        let conds = self.compute_conds(now, now);
        for (old, new) in self.conds.iter_mut().zip(conds) {
            if old.status != new.status {
                *old = new;
            }
        }
        next
    }

    /// Records the pod's readiness gates as seen on the API; returns whether that changed.
    pub fn set_gate(&mut self, gate: Option<Gate>, now: Instant) -> bool {
        if self.gate == gate {
            return false;
        }
        self.gate = gate;
        self.advance(now);
        true
    }

    fn compute_conds(&self, now: Instant, since: Instant) -> [Cond; 4] {
        let containers_ready = self.containers_ready(now);
        let c = |status| Cond { status, since };
        [
            c(true),
            c(self.initialized()),
            c(containers_ready && self.gate.is_none()),
            c(containers_ready),
        ]
    }

    /// Whether every container is running and ready.
    pub fn containers_ready(&self, now: Instant) -> bool {
        !self.containers.is_empty()
            && self
                .containers
                .iter()
                .all(|c| c.ready(now, self.ready_delay))
    }

    /// Names of containers that are not ready.
    pub fn unready(&self, now: Instant) -> Vec<&str> {
        self.containers
            .iter()
            .filter(|c| !c.ready(now, self.ready_delay))
            .map(|c| c.name.as_str())
            .collect()
    }

    /// Names of init containers that have not completed.
    pub fn uninitialized(&self) -> Vec<&str> {
        self.init
            .iter()
            .filter(|c| c.finished().is_none_or(|t| t.code != 0))
            .map(|c| c.name.as_str())
            .collect()
    }

    /// The pod phase.
    pub fn phase(&self) -> Phase {
        if self.init_failed() {
            return Phase::Failed;
        }
        if !self.initialized() {
            return Phase::Pending;
        }
        let mut codes = Vec::with_capacity(self.containers.len());
        for c in &self.containers {
            match c.state {
                State::Terminated(t) => codes.push(t.code),
                _ => return Phase::Running,
            }
        }
        if codes.iter().all(|&c| c == 0) {
            Phase::Succeeded
        } else {
            Phase::Failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[tokio::test(start_paused = true)]
    async fn long_running_pod_is_running_and_ready_after_delay() {
        let t0 = Instant::now();
        let p =
            pod(serde_json::json!({"spec": {"containers": [{"name": "web", "image": "nginx"}]}}));
        let mut s = PodSim::new(&p, t0, secs(2));
        assert_eq!(s.advance(t0), Some(t0 + secs(2)));
        assert_eq!(s.phase(), Phase::Running);
        assert!(!s.conds[2].status);
        assert_eq!(s.unready(t0), vec!["web"]);
        tokio::time::advance(secs(2)).await;
        assert_eq!(s.advance(Instant::now()), None);
        assert!(s.conds[2].status && s.conds[3].status);
        assert_eq!(s.conds[2].since, t0 + secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn echo_pod_succeeds_and_exit_code_fails() {
        let t0 = Instant::now();
        let p = pod(
            serde_json::json!({"spec": {"restartPolicy": "Never", "containers": [
            {"name": "a", "image": "busybox", "command": ["sh", "-c", "echo hi"]}]}}),
        );
        let mut s = PodSim::new(&p, t0, Duration::ZERO);
        assert_eq!(s.advance(t0), None);
        assert_eq!(s.phase(), Phase::Succeeded);
        assert!(!s.conds[2].status);
        let p = pod(
            serde_json::json!({"spec": {"restartPolicy": "Never", "containers": [
            {"name": "a", "image": "busybox", "command": ["sh", "-c", "sleep 3; exit 4"]}]}}),
        );
        let mut s = PodSim::new(&p, t0, Duration::ZERO);
        assert_eq!(s.advance(t0), Some(t0 + secs(3)));
        assert_eq!(s.phase(), Phase::Running);
        s.advance(t0 + secs(3));
        assert_eq!(s.phase(), Phase::Failed);
        assert_eq!(s.containers[0].finished().unwrap().code, 4);
    }

    #[tokio::test(start_paused = true)]
    async fn init_containers_run_first_in_order() {
        let t0 = Instant::now();
        let p = pod(serde_json::json!({"spec": {
            "initContainers": [
                {"name": "i1", "image": "busybox", "command": ["sleep", "2"]},
                {"name": "i2", "image": "busybox", "command": ["sleep", "3"]}],
            "containers": [{"name": "web", "image": "nginx"}]}}));
        let mut s = PodSim::new(&p, t0, Duration::ZERO);
        assert_eq!(s.advance(t0), Some(t0 + secs(2)));
        assert_eq!(s.phase(), Phase::Pending);
        assert_eq!(s.uninitialized(), vec!["i1", "i2"]);
        assert_eq!(s.containers[0].state, State::Initializing);
        assert_eq!(s.advance(t0 + secs(2)), Some(t0 + secs(5)));
        assert_eq!(s.uninitialized(), vec!["i2"]);
        assert_eq!(s.advance(t0 + secs(5)), None);
        assert_eq!(s.phase(), Phase::Running);
        assert_eq!(
            s.containers[0].state,
            State::Running {
                since: t0 + secs(5)
            }
        );
        assert!(s.conds[1].status && s.conds[2].status);
    }

    #[tokio::test(start_paused = true)]
    async fn readiness_gates_hold_ready_back() {
        let t0 = Instant::now();
        let p = pod(serde_json::json!({
            "spec": {"readinessGates": [{"conditionType": "example.com/lb"}],
                     "containers": [{"name": "web", "image": "nginx"}]},
            "status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}}));
        let mut s = PodSim::new(&p, t0, Duration::ZERO);
        s.advance(t0);
        assert!(s.has_scheduled);
        assert_eq!(s.gate, Some(Gate::Missing("example.com/lb".into())));
        assert!(s.conds[3].status && !s.conds[2].status);
        let p = pod(serde_json::json!({
            "spec": {"readinessGates": [{"conditionType": "example.com/lb"}], "containers": []},
            "status": {"conditions": [{"type": "example.com/lb", "status": "True"}]}}));
        assert!(s.set_gate(unready_gate(&p), t0 + secs(1)));
        assert!(s.conds[2].status);
        assert!(!s.set_gate(None, t0 + secs(2)));
    }

    #[tokio::test(start_paused = true)]
    async fn on_failure_restarts_until_success_is_impossible() {
        let t0 = Instant::now();
        let p = pod(
            serde_json::json!({"spec": {"restartPolicy": "OnFailure", "containers": [
            {"name": "a", "image": "busybox", "command": ["false"]}]}}),
        );
        let mut s = PodSim::new(&p, t0, Duration::ZERO);
        assert_eq!(s.advance(t0 + secs(100)), Some(t0 + secs(150)));
        assert_eq!(s.phase(), Phase::Running);
        assert_eq!(s.containers[0].restarts, 4);
    }
}
