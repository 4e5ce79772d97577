//! Renders a simulated pod as the strategic-merge patch of its `status`.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::clock::Clock;
use crate::container::{ContainerSim, State, Termination};
use crate::podsim::{CONDITIONS, Gate, Phase, PodSim};

/// What the status needs besides the simulation itself.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub clock: &'a Clock,
    pub uid: &'a str,
    pub host_ip: IpAddr,
    pub pod_ip: Option<IpAddr>,
}

fn hash_hex(parts: &[&str], n: u32) -> String {
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    let v = h.finish();
    (0..n)
        .map(|i| format!("{:016x}", v.rotate_left(i * 16)))
        .collect()
}

fn container_id(uid: &str, c: &ContainerSim, restarts: u32) -> String {
    format!(
        "rkube-sim://{}",
        hash_hex(&[uid, &c.name, &restarts.to_string()], 4)
    )
}

fn image_id(image: &str) -> String {
    let repo = image.split('@').next().unwrap_or(image);
    let repo = match repo.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r,
        _ => repo,
    };
    format!("{repo}@sha256:{}", hash_hex(&[image], 4))
}

fn terminated(ctx: &Context<'_>, t: Termination, id: &str) -> Value {
    json!({
        "exitCode": t.code,
        "reason": if t.code == 0 { "Completed" } else { "Error" },
        "startedAt": ctx.clock.format(t.started),
        "finishedAt": ctx.clock.format(t.finished),
        "containerID": id,
    })
}

/// `state` with the other variants nulled, so a strategic merge replaces the old one.
fn state_value(waiting: Value, running: Value, term: Value) -> Value {
    json!({"waiting": waiting, "running": running, "terminated": term})
}

fn container_status(ctx: &Context<'_>, c: &ContainerSim, ready: bool) -> Value {
    let id = container_id(ctx.uid, c, c.restarts);
    let state = match c.state {
        State::Initializing => state_value(
            json!({"reason": "PodInitializing"}),
            Value::Null,
            Value::Null,
        ),
        State::BackOff { .. } => {
            let msg = format!(
                "back-off {} restarting failed container={} pod=",
                crate::container::backoff(c.restarts).as_secs(),
                c.name
            );
            state_value(
                json!({"reason": "CrashLoopBackOff", "message": msg}),
                Value::Null,
                Value::Null,
            )
        }
        State::Running { since } => state_value(
            Value::Null,
            json!({"startedAt": ctx.clock.format(since)}),
            Value::Null,
        ),
        State::Terminated(t) => state_value(Value::Null, Value::Null, terminated(ctx, t, &id)),
    };
    let last = match c.last {
        Some(t) => {
            let prev = container_id(ctx.uid, c, c.restarts.saturating_sub(1));
            state_value(Value::Null, Value::Null, terminated(ctx, t, &prev))
        }
        None => json!({"waiting": null, "running": null, "terminated": null}),
    };
    let started = matches!(c.state, State::Running { .. });
    let mut v = json!({
        "name": c.name,
        "image": c.image,
        "imageID": image_id(&c.image),
        "ready": ready,
        "restartCount": c.restarts,
        "started": started,
        "state": state,
        "lastState": last,
    });
    if c.state != State::Initializing {
        v["containerID"] = json!(id);
    }
    v
}

fn condition(
    ctx: &Context<'_>,
    ty: &str,
    status: bool,
    since: Instant,
    why: Option<(&str, String)>,
) -> Value {
    let (reason, message) = match why {
        Some((r, m)) => (json!(r), if m.is_empty() { Value::Null } else { json!(m) }),
        None => (Value::Null, Value::Null),
    };
    json!({
        "type": ty,
        "status": if status { "True" } else { "False" },
        "lastProbeTime": null,
        "lastTransitionTime": ctx.clock.format(since),
        "reason": reason,
        "message": message,
    })
}

/// The `{"status": …}` patch for `sim` at `now`.
pub fn render(sim: &PodSim, ctx: &Context<'_>, now: Instant) -> Value {
    let phase = sim.phase();
    let completed = phase == Phase::Succeeded;
    let unready = || {
        if completed {
            ("PodCompleted", String::new())
        } else {
            (
                "ContainersNotReady",
                format!(
                    "containers with unready status: [{}]",
                    sim.unready(now).join(" ")
                ),
            )
        }
    };
    let mut conditions = Vec::with_capacity(5);
    for (i, (ty, c)) in CONDITIONS.iter().zip(sim.conds.iter()).enumerate() {
        let why = match (i, c.status) {
            (1, true) if completed => Some(("PodCompleted", String::new())),
            (1, false) => Some((
                "ContainersNotInitialized",
                format!(
                    "containers with incomplete status: [{}]",
                    sim.uninitialized().join(" ")
                ),
            )),
            (2, false) if sim.containers_ready(now) => Some((
                "ReadinessGatesNotReady",
                match &sim.gate {
                    Some(Gate::Missing(t)) => {
                        format!(
                            "corresponding condition of pod readiness gate \"{t}\" does not exist."
                        )
                    }
                    Some(Gate::NotTrue(t, s)) => {
                        format!("the status of pod readiness gate \"{t}\" is not \"True\", but {s}")
                    }
                    None => String::new(),
                },
            )),
            (2 | 3, false) => Some(unready()),
            _ => None,
        };
        conditions.push(condition(ctx, ty, c.status, c.since, why));
    }
    if !sim.has_scheduled {
        conditions.push(condition(ctx, "PodScheduled", true, sim.started, None));
    }
    let statuses: Vec<Value> = sim
        .containers
        .iter()
        .map(|c| container_status(ctx, c, c.ready(now, sim.ready_delay)))
        .collect();
    let init: Vec<Value> = sim
        .init
        .iter()
        .map(|c| container_status(ctx, c, c.finished().is_some_and(|t| t.code == 0)))
        .collect();
    let host = ctx.host_ip.to_string();
    let mut status = json!({
        "phase": phase.as_str(),
        "hostIP": host,
        "hostIPs": [{"ip": host}],
        "startTime": ctx.clock.format(sim.started),
        "conditions": conditions,
        "containerStatuses": statuses,
    });
    if !init.is_empty() {
        status["initContainerStatuses"] = json!(init);
    }
    if let Some(ip) = ctx.pod_ip {
        status["podIP"] = json!(ip.to_string());
        status["podIPs"] = json!([{"ip": ip.to_string()}]);
    }
    json!({ "status": status })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn running_pod_status_looks_like_the_kubelets() {
        let t0 = Instant::now();
        let clock = Clock::fixed(t0, jiff::Timestamp::from_second(1_700_000_000).unwrap());
        let pod: Pod = serde_json::from_value(json!({"spec": {"containers": [
            {"name": "web", "image": "nginx:1.27"}]}}))
        .unwrap();
        let mut sim = PodSim::new(&pod, t0, Duration::from_secs(1));
        sim.advance(t0);
        let ctx = Context {
            clock: &clock,
            uid: "u1",
            host_ip: Ipv4Addr::new(10, 254, 0, 1).into(),
            pod_ip: Some(Ipv4Addr::new(10, 42, 0, 2).into()),
        };
        let v = render(&sim, &ctx, t0);
        let s = &v["status"];
        assert_eq!(s["phase"], "Running");
        assert_eq!(s["podIP"], "10.42.0.2");
        assert_eq!(s["podIPs"][0]["ip"], "10.42.0.2");
        assert_eq!(s["hostIP"], "10.254.0.1");
        assert_eq!(s["startTime"], "2023-11-14T22:13:20Z");
        let types: Vec<&str> = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "PodReadyToStartContainers",
                "Initialized",
                "Ready",
                "ContainersReady",
                "PodScheduled"
            ]
        );
        assert_eq!(s["conditions"][2]["status"], "False");
        assert_eq!(
            s["conditions"][2]["message"],
            "containers with unready status: [web]"
        );
        let c = &s["containerStatuses"][0];
        assert_eq!(c["ready"], false);
        assert_eq!(c["started"], true);
        assert!(c["state"]["running"]["startedAt"].is_string());
        assert!(c["state"]["terminated"].is_null());
        assert!(c["imageID"].as_str().unwrap().starts_with("nginx@sha256:"));
        assert!(
            c["containerID"]
                .as_str()
                .unwrap()
                .starts_with("rkube-sim://")
        );

        sim.advance(t0 + Duration::from_secs(1));
        let v = render(&sim, &ctx, t0 + Duration::from_secs(1));
        assert_eq!(v["status"]["conditions"][2]["status"], "True");
        assert!(v["status"]["conditions"][2]["reason"].is_null());
        assert_eq!(v["status"]["containerStatuses"][0]["ready"], true);
    }

    #[tokio::test(start_paused = true)]
    async fn completed_pod_reports_exit_code() {
        let t0 = Instant::now();
        let clock = Clock::fixed(t0, jiff::Timestamp::from_second(1_700_000_000).unwrap());
        let pod: Pod = serde_json::from_value(json!({"spec": {"restartPolicy": "Never",
            "containers": [{"name": "a", "image": "busybox", "command": ["echo", "hi"]}]}}))
        .unwrap();
        let mut sim = PodSim::new(&pod, t0, Duration::ZERO);
        sim.advance(t0);
        let ctx = Context {
            clock: &clock,
            uid: "u",
            host_ip: Ipv4Addr::new(10, 254, 0, 1).into(),
            pod_ip: None,
        };
        let v = render(&sim, &ctx, t0);
        assert_eq!(v["status"]["phase"], "Succeeded");
        let t = &v["status"]["containerStatuses"][0]["state"]["terminated"];
        assert_eq!(t["exitCode"], 0);
        assert_eq!(t["reason"], "Completed");
        assert_eq!(v["status"]["conditions"][2]["reason"], "PodCompleted");
    }
}
