//! Pod workers against the fake runtime: the calls they make, the statuses
//! they compute, CrashLoopBackOff, restart policies, init containers,
//! deletion and adoption after a restart.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodStatus};
use serde_json::{Value, json};

use crate::config::KubeletConfig;
use crate::dns::ResolvConf;
use crate::env::NodeFacts;
use crate::events::Recorder;
use crate::pod_worker::{Outcome, PodWorker, WorkerContext};
use crate::runtime::fake::FakeRuntime;

struct Harness {
    rt: Arc<FakeRuntime>,
    ctx: Arc<WorkerContext<FakeRuntime>>,
    _dir: tempfile::TempDir,
}

fn harness() -> Harness {
    let rt = Arc::new(FakeRuntime::new());
    let dir = tempfile::tempdir().unwrap();
    let clock_rt = rt.clone();
    let ctx = Arc::new(WorkerContext {
        runtime: rt.clone(),
        config: Arc::new(KubeletConfig::new("n1", dir.path())),
        client: None,
        status: None,
        events: Recorder::disabled(),
        node_ip: "192.0.2.2".into(),
        host_resolv: ResolvConf::default(),
        facts: NodeFacts::default(),
        memory_capacity: 1 << 30,
        clock: Arc::new(move || clock_rt.now()),
        shutdown: Default::default(),
    });
    Harness { rt, ctx, _dir: dir }
}

fn pod(spec: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "resourceVersion": "1"},
        "spec": spec,
    }))
    .unwrap()
}

impl Harness {
    fn worker(&self, pod: Pod) -> PodWorker<FakeRuntime> {
        PodWorker::new(self.ctx.clone(), Arc::new(pod))
    }
}

fn status(w: &PodWorker<FakeRuntime>) -> PodStatus {
    w.pod().status.clone().unwrap()
}

fn container<'a>(s: &'a PodStatus, name: &str) -> &'a ContainerStatus {
    s.container_statuses
        .iter()
        .flatten()
        .chain(s.init_container_statuses.iter().flatten())
        .find(|c| c.name == name)
        .unwrap()
}

fn condition(s: &PodStatus, ty: &str) -> String {
    s.conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == ty)
        .map(|c| c.status.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_pod_runs_and_reports_upstream_status() {
    let h = harness();
    let mut w = h.worker(pod(
        json!({"containers": [{"name": "app", "image": "busybox"}]}),
    ));
    assert_eq!(w.sync(false).await.unwrap(), Outcome::Wait(None));
    assert_eq!(
        h.rt.take_calls(),
        [
            "RunPodSandbox p",
            "PullImage busybox",
            "CreateContainer app",
            "StartContainer app"
        ]
    );
    let s = status(&w);
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert!(s.pod_ip.as_deref().unwrap().starts_with("10.42.0."));
    assert_eq!(s.host_ip.as_deref(), Some("192.0.2.2"));
    assert_eq!(s.qos_class.as_deref(), Some("BestEffort"));
    for ty in [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ] {
        assert_eq!(condition(&s, ty), "True", "{ty}");
    }
    let c = container(&s, "app");
    assert!(c.state.as_ref().unwrap().running.is_some());
    assert!(c.ready);
    assert_eq!(c.started, Some(true));
    assert_eq!(c.restart_count, 0);
    assert!(
        c.container_id
            .as_deref()
            .unwrap()
            .starts_with("containerd://c")
    );
    assert!(c.image_id.starts_with("sha256:"));

    // Nothing changed: nothing to do.
    w.sync(false).await.unwrap();
    assert!(h.rt.take_calls().is_empty());

    // A new worker (the agent restarted) adopts the running container.
    let mut again = h.worker(w.pod().clone());
    again.sync(false).await.unwrap();
    assert!(h.rt.take_calls().is_empty());
    assert_eq!(status(&again), s);
}

#[tokio::test]
async fn crash_loop_backoff_doubles() {
    let h = harness();
    let mut w = h.worker(pod(
        json!({"containers": [{"name": "app", "image": "busybox"}]}),
    ));
    w.sync(false).await.unwrap();
    h.rt.take_calls();

    // The first failure restarts at once.
    h.rt.exit("app", 1);
    w.sync(false).await.unwrap();
    assert_eq!(
        h.rt.take_calls(),
        [
            "PullImage busybox",
            "CreateContainer app",
            "StartContainer app"
        ]
    );
    let s = status(&w);
    let c = container(&s, "app");
    assert_eq!(c.restart_count, 1);
    let last = c.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));

    // Then 10 s, 20 s, 40 s of CrashLoopBackOff.
    for (delay, restarts) in [(10, 2), (20, 3), (40, 4)] {
        h.rt.advance(Duration::from_secs(1));
        h.rt.exit("app", 1);
        let out = w.sync(false).await.unwrap();
        // Only the oldest instance goes (two are kept).
        let calls = h.rt.take_calls();
        assert!(
            calls.iter().all(|c| c == "RemoveContainer app"),
            "{calls:?}"
        );
        assert_eq!(out, Outcome::Wait(Some(Duration::from_secs(delay))));
        let s = status(&w);
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(condition(&s, "Ready"), "False");
        let c = container(&s, "app");
        let waiting = c.state.as_ref().unwrap().waiting.as_ref().unwrap();
        assert_eq!(waiting.reason.as_deref(), Some("CrashLoopBackOff"));
        assert_eq!(
            waiting.message.as_deref().unwrap(),
            format!("back-off {delay}s restarting failed container=app pod=p_ns(u1)")
        );
        assert_eq!(c.restart_count, restarts - 1);
        assert_eq!(
            c.last_state
                .as_ref()
                .unwrap()
                .terminated
                .as_ref()
                .unwrap()
                .exit_code,
            1
        );

        h.rt.advance(Duration::from_secs(delay));
        w.sync(false).await.unwrap();
        assert_eq!(h.rt.take_calls().last().unwrap(), "StartContainer app");
        assert_eq!(container(&status(&w), "app").restart_count, restarts);
    }
    // At most two instances of a container are kept.
    w.sync(false).await.unwrap();
    assert_eq!(h.rt.containers_named("app").len(), 2);
}

#[tokio::test]
async fn restart_policies_end_pods() {
    // Never: a success ends the pod Succeeded and stops the sandbox.
    let h = harness();
    let mut w = h.worker(pod(json!({"restartPolicy": "Never",
        "containers": [{"name": "app", "image": "busybox"}]})));
    w.sync(false).await.unwrap();
    h.rt.exit("app", 0);
    h.rt.take_calls();
    w.sync(false).await.unwrap();
    let calls = h.rt.take_calls();
    assert!(calls[0].starts_with("StopPodSandbox"), "{calls:?}");
    let s = status(&w);
    assert_eq!(s.phase.as_deref(), Some("Succeeded"));
    let t = container(&s, "app")
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    assert_eq!(condition(&s, "Ready"), "False");
    assert!(s.pod_ip.is_some(), "a finished pod keeps its IP");
    w.sync(false).await.unwrap();
    assert!(h.rt.take_calls().is_empty());

    // OnFailure: a failure restarts, a success ends the pod.
    let h = harness();
    let mut w = h.worker(pod(json!({"restartPolicy": "OnFailure",
        "containers": [{"name": "app", "image": "busybox"}]})));
    w.sync(false).await.unwrap();
    h.rt.exit("app", 3);
    w.sync(false).await.unwrap();
    assert_eq!(container(&status(&w), "app").restart_count, 1);
    h.rt.exit("app", 0);
    w.sync(false).await.unwrap();
    assert_eq!(status(&w).phase.as_deref(), Some("Succeeded"));

    // Never with a failure: Failed.
    let h = harness();
    let mut w = h.worker(pod(json!({"restartPolicy": "Never",
        "containers": [{"name": "app", "image": "busybox"}]})));
    w.sync(false).await.unwrap();
    h.rt.exit("app", 2);
    w.sync(false).await.unwrap();
    let s = status(&w);
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    let t = container(&s, "app")
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (2, Some("Error")));
}

#[tokio::test]
async fn init_containers_run_in_order() {
    let h = harness();
    let mut w = h.worker(pod(json!({
        "initContainers": [{"name": "i1", "image": "busybox"}, {"name": "i2", "image": "busybox"}],
        "containers": [{"name": "app", "image": "nginx"}]})));
    w.sync(false).await.unwrap();
    assert_eq!(
        h.rt.take_calls(),
        [
            "RunPodSandbox p",
            "PullImage busybox",
            "CreateContainer i1",
            "StartContainer i1"
        ]
    );
    let s = status(&w);
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    assert_eq!(condition(&s, "Initialized"), "False");
    let init_cond = s
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "Initialized")
        .unwrap();
    assert_eq!(
        init_cond.message.as_deref(),
        Some("containers with incomplete status: [i1 i2]")
    );
    let app = container(&s, "app")
        .state
        .as_ref()
        .unwrap()
        .waiting
        .clone()
        .unwrap();
    assert_eq!(app.reason.as_deref(), Some("PodInitializing"));

    h.rt.exit("i1", 0);
    w.sync(false).await.unwrap();
    assert_eq!(
        h.rt.take_calls(),
        [
            "PullImage busybox",
            "CreateContainer i2",
            "StartContainer i2"
        ]
    );
    h.rt.exit("i2", 0);
    w.sync(false).await.unwrap();
    assert_eq!(
        h.rt.take_calls(),
        [
            "PullImage nginx",
            "CreateContainer app",
            "StartContainer app"
        ]
    );
    let s = status(&w);
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert_eq!(condition(&s, "Initialized"), "True");
    let i1 = container(&s, "i1");
    assert!(i1.ready);
    assert_eq!(
        i1.state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("Completed")
    );

    // A failing init container fails a Never pod.
    let h = harness();
    let mut w = h.worker(pod(json!({"restartPolicy": "Never",
        "initContainers": [{"name": "i1", "image": "busybox"}],
        "containers": [{"name": "app", "image": "nginx"}]})));
    w.sync(false).await.unwrap();
    h.rt.exit("i1", 1);
    w.sync(false).await.unwrap();
    assert_eq!(status(&w).phase.as_deref(), Some("Failed"));
    assert!(h.rt.containers_named("app").is_empty());
}

#[tokio::test]
async fn image_pull_failures_wait_with_upstream_reasons() {
    let h = harness();
    h.rt.state()
        .pull_failures
        .insert("nope".into(), "not found".into());
    let mut w = h.worker(pod(
        json!({"containers": [{"name": "app", "image": "nope"}]}),
    ));
    let out = w.sync(false).await.unwrap();
    assert_eq!(out, Outcome::Wait(Some(Duration::from_secs(10))));
    let s = status(&w);
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    let waiting = container(&s, "app")
        .state
        .as_ref()
        .unwrap()
        .waiting
        .clone()
        .unwrap();
    assert_eq!(waiting.reason.as_deref(), Some("ErrImagePull"));
    w.sync(false).await.unwrap();
    let waiting = container(&status(&w), "app")
        .state
        .as_ref()
        .unwrap()
        .waiting
        .clone()
        .unwrap();
    assert_eq!(waiting.reason.as_deref(), Some("ImagePullBackOff"));
    assert_eq!(
        waiting.message.as_deref(),
        Some("Back-off pulling image \"nope\"")
    );
}

#[tokio::test]
async fn deletion_stops_within_the_grace_period_and_removes_everything() {
    let h = harness();
    let mut w = h.worker(pod(
        json!({"containers": [{"name": "app", "image": "busybox"}]}),
    ));
    w.sync(false).await.unwrap();
    h.rt.take_calls();
    let mut deleting = w.pod().clone();
    deleting.metadata.deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(h.rt.now()),
    );
    deleting.metadata.deletion_grace_period_seconds = Some(5);
    deleting.metadata.resource_version = Some("9".into());
    w.absorb(Arc::new(deleting));
    assert_eq!(w.sync(false).await.unwrap(), Outcome::Done);
    let calls = h.rt.take_calls();
    assert_eq!(calls[0], "StopContainer app 5s");
    assert!(calls[1].starts_with("StopPodSandbox"));
    assert!(calls.iter().any(|c| c.starts_with("RemovePodSandbox")));
    assert!(h.rt.state().sandboxes.is_empty());
    assert!(h.rt.state().containers.is_empty());
    // The final status: stopped by SIGKILL, the pod Failed.
    let s = status(&w);
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    let t = container(&s, "app")
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!(t.exit_code, 137);
}

#[tokio::test]
async fn env_config_errors_wait_as_create_container_config_error() {
    let h = harness();
    let mut w = h.worker(pod(
        json!({"containers": [{"name": "app", "image": "busybox",
        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]}]}),
    ));
    w.sync(false).await.unwrap();
    let waiting = container(&status(&w), "app")
        .state
        .as_ref()
        .unwrap()
        .waiting
        .clone()
        .unwrap();
    assert_eq!(
        waiting.reason.as_deref(),
        Some("CreateContainerConfigError")
    );
    assert_eq!(
        waiting.message.as_deref(),
        Some("configmap \"cfg\" not found")
    );
}

#[tokio::test]
async fn lifecycle_hooks_run_around_the_container() {
    let h = harness();
    let mut w = h.worker(pod(
        json!({"containers": [{"name": "app", "image": "busybox",
        "lifecycle": {
            "postStart": {"exec": {"command": ["touch", "/started"]}},
            "preStop": {"exec": {"command": ["touch", "/stopping"]}}}}]}),
    ));
    w.sync(false).await.unwrap();
    assert_eq!(
        h.rt.take_calls()[2..],
        [
            "CreateContainer app",
            "StartContainer app",
            "ExecSync app touch /started"
        ]
    );
    let mut deleting = w.pod().clone();
    deleting.metadata.deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(h.rt.now()),
    );
    deleting.metadata.deletion_grace_period_seconds = Some(30);
    deleting.metadata.resource_version = Some("9".into());
    w.absorb(Arc::new(deleting));
    w.sync(false).await.unwrap();
    let calls = h.rt.take_calls();
    assert_eq!(
        calls[..2],
        ["ExecSync app touch /stopping", "StopContainer app 30s"]
    );

    // A failing postStart kills the container; it waits as PostStartHookError.
    let h = harness();
    h.rt.state()
        .exec_results
        .insert("false".into(), (1, String::new()));
    let mut w = h.worker(pod(
        json!({"containers": [{"name": "app", "image": "busybox",
        "lifecycle": {"postStart": {"exec": {"command": ["false"]}}}}]}),
    ));
    w.sync(false).await.unwrap();
    let calls = h.rt.take_calls();
    assert!(
        calls.iter().any(|c| c.starts_with("StopContainer app")),
        "{calls:?}"
    );
    let s = status(&w);
    let waiting = container(&s, "app")
        .state
        .as_ref()
        .unwrap()
        .waiting
        .clone()
        .unwrap();
    assert_eq!(waiting.reason.as_deref(), Some("PostStartHookError"));
    assert!(
        waiting
            .message
            .unwrap()
            .starts_with("Exec lifecycle hook ([false]) for Container \"app\" in Pod \"p_ns(u1)\" failed - error: command 'false' exited with 1")
    );
}

#[tokio::test]
async fn sidecars_keep_running_beside_the_app() {
    let h = harness();
    let mut w = h.worker(pod(json!({
        "initContainers": [
            {"name": "proxy", "image": "busybox", "restartPolicy": "Always"},
            {"name": "setup", "image": "busybox"}],
        "containers": [{"name": "app", "image": "busybox"}]})));
    w.sync(false).await.unwrap();
    assert_eq!(h.rt.take_calls().last().unwrap(), "StartContainer proxy");
    w.sync(false).await.unwrap();
    assert_eq!(h.rt.take_calls().last().unwrap(), "StartContainer setup");
    h.rt.exit("setup", 0);
    w.sync(false).await.unwrap();
    assert_eq!(h.rt.take_calls().last().unwrap(), "StartContainer app");
    let s = status(&w);
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert_eq!(condition(&s, "Initialized"), "True");
    assert_eq!(condition(&s, "Ready"), "True");
    let proxy = container(&s, "proxy");
    assert!(proxy.ready && proxy.state.as_ref().unwrap().running.is_some());

    // A sidecar that dies is restarted; the app keeps running.
    h.rt.exit("proxy", 1);
    w.sync(false).await.unwrap();
    assert_eq!(h.rt.take_calls().last().unwrap(), "StartContainer proxy");
    assert_eq!(container(&status(&w), "proxy").restart_count, 1);
    assert_eq!(h.rt.containers_named("app").len(), 1);
}
