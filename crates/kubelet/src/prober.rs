//! Startup, liveness and readiness probes (exec, httpGet, tcpSocket, grpc),
//! as upstream's prober workers: one task per probe of each running container
//! instance, `initialDelaySeconds` after the container started, every
//! `periodSeconds`, each run bounded by `timeoutSeconds`, results counted
//! against `successThreshold` and `failureThreshold`; liveness and readiness
//! wait for startup. Results wake the pod's worker, which reports readiness
//! and kills containers that fail their liveness or startup probe. Failures
//! record `Unhealthy` events.

mod grpc;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::events::Recorder;
use crate::handlers::{self, Action, Target};
use crate::runtime::Runtime;

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `startupProbe`.
    Startup,
    /// `livenessProbe`.
    Liveness,
    /// `readinessProbe`.
    Readiness,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
        }
    }
}

/// What the probes of one container instance concluded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeView {
    /// `None` without a startup probe; else whether it succeeded.
    pub started: Option<bool>,
    /// `None` without a readiness probe; else its result.
    pub ready: Option<bool>,
    /// The container failed its liveness or startup probe: kill it.
    pub failed: Option<Kind>,
}

impl ProbeView {
    /// The view before any probe of `container` has answered: not started
    /// with a startup probe, not ready with a readiness probe.
    pub fn initial(container: &Container) -> Self {
        ProbeView {
            started: container.startup_probe.as_ref().map(|_| false),
            ready: container.readiness_probe.as_ref().map(|_| false),
            failed: None,
        }
    }
}

/// One probe's counters and thresholds.
#[derive(Debug, Clone)]
pub struct Counter {
    successes: i32,
    failures: i32,
    success_threshold: i32,
    failure_threshold: i32,
}

impl Counter {
    /// Thresholds from the probe (defaults 1 and 3).
    pub fn new(p: &Probe) -> Self {
        Counter {
            successes: 0,
            failures: 0,
            success_threshold: p.success_threshold.unwrap_or(1).max(1),
            failure_threshold: p.failure_threshold.unwrap_or(3).max(1),
        }
    }

    /// Counts one run; `Some(result)` once a threshold is reached.
    pub fn record(&mut self, ok: bool) -> Option<bool> {
        if ok {
            self.successes += 1;
            self.failures = 0;
            (self.successes >= self.success_threshold).then_some(true)
        } else {
            self.failures += 1;
            self.successes = 0;
            (self.failures >= self.failure_threshold).then_some(false)
        }
    }
}

struct Instance {
    view: Arc<Mutex<ProbeView>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The probes of one pod's running containers, by container id.
pub struct PodProbes {
    wake: Arc<Notify>,
    instances: HashMap<String, Instance>,
}

fn secs(n: Option<i32>, default: i32) -> Duration {
    Duration::from_secs(u64::try_from(n.unwrap_or(default).max(0)).unwrap_or(0))
}

fn lock(v: &Mutex<ProbeView>) -> std::sync::MutexGuard<'_, ProbeView> {
    v.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a probe task needs.
struct Job<R> {
    runtime: Arc<R>,
    kind: Kind,
    probe: Probe,
    container: Container,
    container_id: String,
    pod: Arc<Pod>,
    pod_ip: String,
    /// How long the container had been running when the task started.
    running_for: Duration,
    view: Arc<Mutex<ProbeView>>,
    wake: Arc<Notify>,
    events: Recorder,
}

impl<R: Runtime> Job<R> {
    async fn run(self) {
        let grpc = self.probe.grpc.clone();
        let Some(action) = Action::of_probe(&self.probe) else {
            return;
        };
        let delay = secs(self.probe.initial_delay_seconds, 0).saturating_sub(self.running_for);
        tokio::time::sleep(delay).await;
        let period = secs(self.probe.period_seconds, 10).max(Duration::from_secs(1));
        let timeout = secs(self.probe.timeout_seconds, 1).max(Duration::from_secs(1));
        let mut counter = Counter::new(&self.probe);
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let waiting_for_startup =
                self.kind != Kind::Startup && lock(&self.view).started == Some(false);
            if waiting_for_startup {
                continue;
            }
            let target = Target {
                container_id: &self.container_id,
                container: &self.container,
                pod_ip: &self.pod_ip,
            };
            let outcome = match &grpc {
                Some(g) => grpc::check(g, &self.pod_ip, timeout).await,
                None => match handlers::probe(&*self.runtime, action, &target, timeout).await {
                    handlers::Outcome::Warning(w) => {
                        self.events.pod(
                            &self.pod,
                            Some(format!("spec.containers{{{}}}", self.container.name)),
                            "Warning",
                            "ProbeWarning",
                            format!("{} probe warning: {w}", self.kind.name()),
                        );
                        Ok(())
                    }
                    other => other.into_result(),
                },
            };
            if let Err(output) = &outcome {
                self.events.pod(
                    &self.pod,
                    Some(format!("spec.containers{{{}}}", self.container.name)),
                    "Warning",
                    "Unhealthy",
                    format!("{} probe failed: {output}", self.kind.name()),
                );
            }
            let Some(result) = counter.record(outcome.is_ok()) else {
                continue;
            };
            let changed = {
                let mut v = lock(&self.view);
                let before = *v;
                match (self.kind, result) {
                    (Kind::Readiness, r) => v.ready = Some(r),
                    (Kind::Startup, true) => v.started = Some(true),
                    (Kind::Startup | Kind::Liveness, false) => {
                        v.failed.get_or_insert(self.kind);
                    }
                    (Kind::Liveness, true) => {}
                }
                *v != before
            };
            if changed {
                self.wake.notify_one();
            }
            let finished = match self.kind {
                Kind::Startup => true,
                Kind::Liveness => !result,
                Kind::Readiness => false,
            };
            if finished {
                return;
            }
        }
    }
}

impl PodProbes {
    /// No probes yet; results notify `wake`.
    pub fn new(wake: Arc<Notify>) -> Self {
        PodProbes {
            wake,
            instances: HashMap::new(),
        }
    }

    /// The view of container `id` (defaults when it has no probes).
    pub fn view(&self, id: &str) -> ProbeView {
        self.instances
            .get(id)
            .map(|i| *lock(&i.view))
            .unwrap_or_default()
    }

    /// Every container id with probes, and its view.
    pub fn views(&self) -> HashMap<String, ProbeView> {
        self.instances
            .iter()
            .map(|(id, i)| (id.clone(), *lock(&i.view)))
            .collect()
    }

    /// Starts the probes of running container `id` (once), and stops those of
    /// containers not in `running`.
    #[allow(clippy::too_many_arguments)]
    pub fn ensure<R: Runtime>(
        &mut self,
        runtime: &Arc<R>,
        pod: &Arc<Pod>,
        container: &Container,
        id: &str,
        pod_ip: &str,
        running_for: Duration,
        events: &Recorder,
    ) {
        if self.instances.contains_key(id) {
            return;
        }
        let probes = [
            (Kind::Startup, container.startup_probe.as_ref()),
            (Kind::Liveness, container.liveness_probe.as_ref()),
            (Kind::Readiness, container.readiness_probe.as_ref()),
        ];
        if probes.iter().all(|(_, p)| p.is_none()) {
            return;
        }
        let view = Arc::new(Mutex::new(ProbeView::initial(container)));
        let mut tasks = vec![];
        for (kind, probe) in probes {
            let Some(probe) = probe else { continue };
            let job = Job {
                runtime: runtime.clone(),
                kind,
                probe: probe.clone(),
                container: container.clone(),
                container_id: id.to_string(),
                pod: pod.clone(),
                pod_ip: pod_ip.to_string(),
                running_for,
                view: view.clone(),
                wake: self.wake.clone(),
                events: events.clone(),
            };
            tasks.push(tokio::spawn(job.run()));
        }
        self.instances
            .insert(id.to_string(), Instance { view, tasks });
    }

    /// Stops the probes of every container not in `running`.
    pub fn retain(&mut self, running: &[&str]) {
        self.instances
            .retain(|id, _| running.contains(&id.as_str()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thresholds() {
        let p: Probe =
            serde_json::from_value(json!({"failureThreshold": 3, "successThreshold": 2})).unwrap();
        let mut c = Counter::new(&p);
        assert_eq!(c.record(false), None);
        assert_eq!(c.record(false), None);
        assert_eq!(c.record(false), Some(false));
        assert_eq!(c.record(true), None);
        assert_eq!(c.record(true), Some(true));
        assert_eq!(c.record(false), None);
    }

    #[tokio::test(start_paused = true)]
    async fn liveness_waits_for_startup_and_failures_are_reported() {
        let rt = Arc::new(crate::runtime::fake::FakeRuntime::new());
        rt.state()
            .exec_results
            .insert("check live".into(), (1, "dead\n".into()));
        let container: Container = serde_json::from_value(json!({"name": "web",
            "startupProbe": {"exec": {"command": ["check", "start"]}, "periodSeconds": 1, "initialDelaySeconds": 5},
            "livenessProbe": {"exec": {"command": ["check", "live"]}, "periodSeconds": 2, "failureThreshold": 2},
            "readinessProbe": {"exec": {"command": ["check", "ready"]}, "periodSeconds": 1}}))
        .unwrap();
        let pod = Arc::new(Pod::default());
        let wake = Arc::new(Notify::new());
        let mut probes = PodProbes::new(wake.clone());
        probes.ensure(
            &rt,
            &pod,
            &container,
            "c1",
            "10.42.0.5",
            Duration::ZERO,
            &Recorder::disabled(),
        );
        let v = probes.view("c1");
        assert_eq!(
            (v.started, v.ready, v.failed),
            (Some(false), Some(false), None)
        );

        // Nothing runs before the initial delay; liveness and readiness wait for startup.
        tokio::time::sleep(Duration::from_millis(4500)).await;
        assert!(rt.take_calls().is_empty());
        wake.notified().await;
        let v = probes.view("c1");
        assert_eq!(v.started, Some(true));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(probes.view("c1").ready, Some(true));

        // Two liveness failures in a row: the container must go.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(probes.view("c1").failed, Some(Kind::Liveness));
        let calls = rt.take_calls();
        assert_eq!(calls[0], "ExecSync  check start");
        assert!(calls.iter().filter(|c| c.ends_with("check live")).count() >= 2);

        probes.retain(&[]);
        assert_eq!(probes.view("c1"), ProbeView::default());
    }
}
