//! The pod printer: READY, STATUS and RESTARTS computed exactly as upstream's `printPod`.

use jiff::Timestamp;
use serde_json::Value;

use crate::duration::since;
use crate::util::{Obj, s};
use crate::{AGE, Column, NAME, col};

pub(crate) static POD_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Ready",
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
        0,
    ),
    col(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
        0,
    ),
    col(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        0,
    ),
    AGE,
    col(
        "IP",
        "string",
        "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
        1,
    ),
    col(
        "Node",
        "string",
        "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for preemption by the scheduler.",
        1,
    ),
    col(
        "Nominated Node",
        "string",
        "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.",
        1,
    ),
    col(
        "Readiness Gates",
        "string",
        "If specified, all readiness gates will be evaluated for pod readiness.",
        1,
    ),
];

/// Upstream's `NodeUnreachablePodReason`.
const NODE_LOST: &str = "NodeLost";

/// The later of two optional times (upstream's `lastRestartDate.Before(&t)` bookkeeping).
fn later(cur: Option<Timestamp>, t: Option<Timestamp>) -> Option<Timestamp> {
    match (cur, t) {
        (Some(c), Some(t)) if c < t => Some(t),
        (None, Some(t)) => Some(t),
        (c, _) => c,
    }
}

fn condition_true(pod: Obj<'_>, kind: &str) -> Option<bool> {
    pod.arr(&["status", "conditions"])
        .iter()
        .map(Obj)
        .find(|c| c.str(&["type"]) == kind)
        .map(|c| c.str(&["status"]) == "True")
}

fn has_ready_condition(pod: Obj<'_>) -> bool {
    pod.arr(&["status", "conditions"])
        .iter()
        .map(Obj)
        .any(|c| c.str(&["type"]) == "Ready" && c.str(&["status"]) == "True")
}

/// A terminated state's reason, or `Signal:N` / `ExitCode:N` when it has none.
fn terminated_reason(term: Obj<'_>, prefix: &str) -> String {
    let reason = term.str(&["reason"]);
    if !reason.is_empty() {
        return format!("{prefix}{reason}");
    }
    let signal = term.int(&["signal"]);
    if signal != 0 {
        format!("{prefix}Signal:{signal}")
    } else {
        format!("{prefix}ExitCode:{}", term.int(&["exitCode"]))
    }
}

/// Cells of one pod, wide columns included.
pub(crate) fn pod_cells(pod: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let spec_init = pod.arr(&["spec", "initContainers"]);
    let is_sidecar = |name: &str| {
        spec_init
            .iter()
            .map(Obj)
            .any(|c| c.str(&["name"]) == name && c.str(&["restartPolicy"]) == "Always")
    };
    let mut total = pod.arr(&["spec", "containers"]).len();
    total += spec_init
        .iter()
        .filter(|c| Obj(c).str(&["restartPolicy"]) == "Always")
        .count();

    let phase = pod.str(&["status", "phase"]);
    let mut reason = phase.to_string();
    let status_reason = pod.str(&["status", "reason"]);
    if !status_reason.is_empty() {
        reason = status_reason.to_string();
    }
    for c in pod.arr(&["status", "conditions"]).iter().map(Obj) {
        if c.str(&["type"]) == "PodScheduled" && c.str(&["reason"]) == "SchedulingGated" {
            reason = "SchedulingGated".to_string();
        }
    }

    let mut restarts = 0i64;
    let mut sidecar_restarts = 0i64;
    let mut ready = 0usize;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_sidecar_restart: Option<Timestamp> = None;

    let mut initializing = false;
    for (i, st) in pod
        .arr(&["status", "initContainerStatuses"])
        .iter()
        .map(Obj)
        .enumerate()
    {
        restarts += st.int(&["restartCount"]);
        let finished = st.time(&["lastState", "terminated", "finishedAt"]);
        if st.has(&["lastState", "terminated"]) {
            last_restart = later(last_restart, finished);
        }
        let sidecar = is_sidecar(st.str(&["name"]));
        if sidecar {
            sidecar_restarts += st.int(&["restartCount"]);
            if st.has(&["lastState", "terminated"]) {
                last_sidecar_restart = later(last_sidecar_restart, finished);
            }
        }
        let terminated = st.has(&["state", "terminated"]);
        let waiting_reason = st.str(&["state", "waiting", "reason"]);
        if terminated && st.int(&["state", "terminated", "exitCode"]) == 0 {
            continue;
        } else if sidecar && st.opt_bool(&["started"]) == Some(true) {
            if st.opt_bool(&["ready"]) == Some(true) {
                ready += 1;
            }
            continue;
        } else if terminated {
            reason = terminated_reason(st.at(&["state", "terminated"]), "Init:");
        } else if st.has(&["state", "waiting"])
            && !waiting_reason.is_empty()
            && waiting_reason != "PodInitializing"
        {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{}", spec_init.len());
        }
        initializing = true;
        break;
    }

    if !initializing || condition_true(pod, "Initialized") == Some(true) {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for st in pod
            .arr(&["status", "containerStatuses"])
            .iter()
            .rev()
            .map(Obj)
        {
            restarts += st.int(&["restartCount"]);
            if st.has(&["lastState", "terminated"]) {
                last_restart = later(
                    last_restart,
                    st.time(&["lastState", "terminated", "finishedAt"]),
                );
            }
            let waiting_reason = st.str(&["state", "waiting", "reason"]);
            let term = st.at(&["state", "terminated"]);
            if st.has(&["state", "waiting"]) && !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if st.has(&["state", "terminated"]) {
                reason = terminated_reason(term, "");
            } else if st.opt_bool(&["ready"]) == Some(true) && st.has(&["state", "running"]) {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if has_ready_condition(pod) {
                "Running"
            } else {
                "NotReady"
            }
            .to_string();
        }
    }

    if pod.deleting() && status_reason == NODE_LOST {
        reason = "Unknown".to_string();
    } else if pod.deleting() && phase != "Succeeded" && phase != "Failed" {
        reason = "Terminating".to_string();
    }

    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(t), now)),
        _ => restarts.to_string(),
    };

    let or_none = |v: &str| {
        if v.is_empty() {
            "<none>".to_string()
        } else {
            v.to_string()
        }
    };
    let pod_ip = pod
        .arr(&["status", "podIPs"])
        .first()
        .map(|p| Obj(p).str(&["ip"]))
        .unwrap_or("");
    let gates = pod.arr(&["spec", "readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let passed = gates
            .iter()
            .filter(|g| condition_true(pod, Obj(g).str(&["conditionType"])) == Some(true))
            .count();
        format!("{passed}/{}", gates.len())
    };

    vec![
        s(pod.name()),
        s(format!("{ready}/{total}")),
        s(reason),
        s(restarts_cell),
        s(pod.age(now)),
        s(or_none(pod_ip)),
        s(or_none(pod.str(&["spec", "nodeName"]))),
        s(or_none(pod.str(&["status", "nominatedNodeName"]))),
        s(readiness_gates),
    ]
}

/// Cells of a pod template: name, containers, images and pod labels.
pub(crate) fn pod_template_cells(obj: Obj<'_>, _now: Timestamp) -> Vec<Value> {
    let (names, images) = crate::util::container_cells(obj.at(&["template", "spec"]));
    vec![
        s(obj.name()),
        s(names),
        s(images),
        s(crate::util::format_labels(
            obj.map(&["template", "metadata", "labels"]),
        )),
    ]
}

pub(crate) static POD_TEMPLATE_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Containers",
        "string",
        "Names of each container in the template.",
        0,
    ),
    col(
        "Images",
        "string",
        "Images referenced by each container in the template.",
        0,
    ),
    col(
        "Pod Labels",
        "string",
        "The labels for the pod template.",
        0,
    ),
];
