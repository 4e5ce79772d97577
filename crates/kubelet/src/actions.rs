//! Decides the next step for one pod from its spec and what the runtime holds,
//! as upstream's `computePodActions`: a new sandbox, the next init container,
//! the app containers to (re)start after their CrashLoopBackOff, what to kill.
//! Pure: the worker executes the plan.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod};

use crate::backoff::Backoff;
use crate::pod_state::{ContainerRecord, PodRuntimeState, RunState};
use crate::podutil::{self, RestartPolicy, go_duration, ts};

/// Why a container waits, shown as `state.waiting` in its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// `CrashLoopBackOff`, `ErrImagePull`, `CreateContainerConfigError`, ….
    pub reason: String,
    /// Details.
    pub message: String,
}

/// A container to create and start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// Its name in the spec.
    pub name: String,
    /// An init container.
    pub init: bool,
    /// The restart count of the new instance.
    pub restart_count: u32,
}

/// A container to stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kill {
    /// Runtime id.
    pub id: String,
    /// Its name in the spec.
    pub name: String,
    /// Why, for the log.
    pub reason: &'static str,
    /// The `Killing` event's message.
    pub message: String,
}

/// What to do for a pod now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodActions {
    /// Stop every container and sandbox of the pod first.
    pub kill_pod: bool,
    /// Make a new sandbox with this attempt number.
    pub create_sandbox: Option<u32>,
    /// Containers to stop.
    pub kill: Vec<Kill>,
    /// Containers to start, in this order.
    pub start: Vec<Start>,
    /// Containers in back-off.
    pub waiting: BTreeMap<String, Waiting>,
    /// Sync again after this long.
    pub requeue: Option<Duration>,
    /// Dead containers to remove (older instances, never-started leftovers).
    pub remove_containers: Vec<String>,
    /// Dead sandboxes to remove.
    pub remove_sandboxes: Vec<String>,
}

impl PodActions {
    fn requeue_after(&mut self, d: Duration) {
        self.requeue = Some(self.requeue.map_or(d, |r| r.min(d)));
    }
}

/// Dead instances beyond the newest two per name, and dead sandboxes that no
/// kept container lives in.
fn garbage(state: &PodRuntimeState, actions: &mut PodActions) {
    let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
    let mut kept_sandboxes = vec![];
    for c in &state.containers {
        let n = seen.entry(c.name.as_str()).or_default();
        *n += 1;
        if *n > 2 && c.state == RunState::Exited {
            actions.remove_containers.push(c.id.clone());
        } else {
            kept_sandboxes.push(c.sandbox_id.as_str());
        }
    }
    for sb in state.sandboxes.iter().skip(1) {
        if !sb.ready && !kept_sandboxes.contains(&sb.id.as_str()) {
            actions.remove_sandboxes.push(sb.id.clone());
        }
    }
}

/// Every app container exited and its restart policy keeps it down.
fn all_done(pod: &Pod, state: &PodRuntimeState, policy: RestartPolicy) -> bool {
    let containers = podutil::containers(pod);
    !containers.is_empty()
        && containers.iter().all(|c| {
            state
                .latest(&c.name)
                .is_some_and(|r| r.state == RunState::Exited && !policy.restarts(r.exit_code))
        })
}

fn next_restart(state: &PodRuntimeState, name: &str) -> u32 {
    state.latest(name).map_or(0, |c| c.restart_count + 1)
}

/// Upstream's CrashLoopBackOff check for a container that exited: `None`
/// when it may restart now (and the back-off grows), else how long it waits.
fn crash_backoff(
    pod: &Pod,
    c: &ContainerRecord,
    backoff: &mut Backoff,
    now: Timestamp,
    actions: &mut PodActions,
) -> bool {
    let finished = ts(c.finished_at).unwrap_or(now);
    if let Some(left) = backoff.remaining_since(&c.name, finished, now) {
        let delay = backoff.get(&c.name).unwrap_or(left);
        actions.waiting.insert(
            c.name.clone(),
            Waiting {
                reason: "CrashLoopBackOff".into(),
                message: format!(
                    "back-off {} restarting failed container={} pod={}",
                    go_duration(delay),
                    c.name,
                    podutil::full_name(pod)
                ),
            },
        );
        actions.requeue_after(left);
        return true;
    }
    backoff.next(&c.name, finished);
    false
}

fn start(actions: &mut PodActions, c: &Container, init: bool, restart_count: u32) {
    actions.start.push(Start {
        name: c.name.clone(),
        init,
        restart_count,
    });
}

/// What to do for `pod` given `state` at `now`. `backoff` remembers crash
/// delays between calls; `unhealthy` names the running containers (by id)
/// that failed their liveness or startup probe, with the `Killing` message.
pub fn compute(
    pod: &Pod,
    state: &PodRuntimeState,
    backoff: &mut Backoff,
    now: Timestamp,
    unhealthy: &HashMap<String, String>,
) -> PodActions {
    let mut actions = PodActions::default();
    garbage(state, &mut actions);
    let policy = RestartPolicy::of(pod);
    let anything_live =
        state.live_containers().next().is_some() || state.sandboxes.iter().any(|s| s.ready);

    // A finished pod keeps its final status; nothing of it may run.
    if podutil::is_terminal(pod) {
        actions.kill_pod = anything_live;
        return actions;
    }

    let host_network = podutil::host_network(pod);
    let sandbox = state
        .sandbox()
        .filter(|s| s.ready && (host_network || !s.ips.is_empty()));
    let Some(sandbox) = sandbox else {
        // A pod that must not restart, or whose containers are all done for
        // good, does not get another sandbox.
        let never_again = policy == RestartPolicy::Never
            && state.sandbox().is_some()
            && !state.containers.is_empty();
        if never_again || all_done(pod, state, policy) {
            actions.kill_pod = anything_live;
            return actions;
        }
        actions.kill_pod = anything_live;
        actions.create_sandbox = Some(state.sandbox().map_or(0, |s| s.attempt + 1));
        if let Some(first) = podutil::init_containers(pod).first() {
            start(&mut actions, first, true, next_restart(state, &first.name));
        } else {
            for c in podutil::containers(pod) {
                let succeeded = state
                    .latest(&c.name)
                    .is_some_and(|r| r.state == RunState::Exited && r.exit_code == 0);
                if policy == RestartPolicy::OnFailure && succeeded {
                    continue;
                }
                start(&mut actions, c, false, next_restart(state, &c.name));
            }
        }
        return actions;
    };

    // Containers left over in older sandboxes.
    for c in state.live_containers() {
        if c.sandbox_id != sandbox.id {
            actions.kill.push(Kill {
                id: c.id.clone(),
                name: c.name.clone(),
                reason: "its sandbox was replaced",
                message: format!("Stopping container {}", c.name),
            });
        }
    }

    // Init containers, one after another (sidecars keep running).
    for c in podutil::init_containers(pod) {
        let sidecar = podutil::is_sidecar(c);
        match state.latest_in(&c.name, &sandbox.id) {
            None => {
                start(&mut actions, c, true, next_restart(state, &c.name));
                return actions;
            }
            Some(r) => match r.state {
                RunState::Running if sidecar => continue,
                RunState::Running | RunState::Unknown => return actions,
                RunState::Created => {
                    actions.remove_containers.push(r.id.clone());
                    start(&mut actions, c, true, r.restart_count);
                    return actions;
                }
                RunState::Exited if !sidecar && r.exit_code == 0 => continue,
                RunState::Exited => {
                    if !sidecar && policy == RestartPolicy::Never {
                        // The pod failed.
                        actions.kill_pod = anything_live;
                        return actions;
                    }
                    if !crash_backoff(pod, r, backoff, now, &mut actions) {
                        start(&mut actions, c, true, r.restart_count + 1);
                    }
                    if !sidecar {
                        return actions;
                    }
                }
            },
        }
    }

    // App containers.
    let mut finished = true;
    for c in podutil::containers(pod) {
        let Some(r) = state.latest(&c.name) else {
            start(&mut actions, c, false, 0);
            finished = false;
            continue;
        };
        match r.state {
            RunState::Running | RunState::Unknown if r.sandbox_id == sandbox.id => {
                finished = false;
                let image = c.image.as_deref().unwrap_or("");
                if let Some(message) = unhealthy.get(&r.id) {
                    // Restarted (per restartPolicy) once it has stopped.
                    actions.kill.push(Kill {
                        id: r.id.clone(),
                        name: r.name.clone(),
                        reason: "it failed a probe",
                        message: message.clone(),
                    });
                } else if !r.spec_image.is_empty() && r.spec_image != image {
                    actions.kill.push(Kill {
                        id: r.id.clone(),
                        name: r.name.clone(),
                        reason: "its image changed",
                        message: format!(
                            "Container {} definition changed, will be restarted",
                            r.name
                        ),
                    });
                    start(&mut actions, c, false, r.restart_count + 1);
                }
            }
            RunState::Created if r.sandbox_id == sandbox.id => {
                finished = false;
                actions.remove_containers.push(r.id.clone());
                start(&mut actions, c, false, r.restart_count);
            }
            // Exited, or alive in a replaced sandbox (being killed above).
            _ => {
                let code = if r.state == RunState::Exited {
                    r.exit_code
                } else {
                    137
                };
                if !policy.restarts(code) {
                    continue;
                }
                finished = false;
                if r.state != RunState::Exited || !crash_backoff(pod, r, backoff, now, &mut actions)
                {
                    start(&mut actions, c, false, r.restart_count + 1);
                }
            }
        }
    }
    // Every container is done for good: the pod is finished; stop its sandbox.
    if finished && !podutil::containers(pod).is_empty() {
        actions.kill_pod = anything_live;
    }
    actions
}
