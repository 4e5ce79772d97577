//! Printers for workload controllers: deployments, replica sets, stateful sets, daemon sets, RCs.

use jiff::Timestamp;
use serde_json::Value;

use crate::util::{
    Obj, container_cells, format_label_selector, format_labels, n, s, selector_string,
};
use crate::{AGE, Column, NAME, col};

const CONTAINERS_DESC: &str = "Names of each container in the template.";
const IMAGES_DESC: &str = "Images referenced by each container in the template.";
const SELECTOR_DESC: &str = "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment. It must match the pod template's labels.";

/// `spec.replicas`, which upstream defaulting always sets (to 1 when omitted).
fn desired(obj: Obj<'_>) -> i64 {
    obj.opt_int(&["spec", "replicas"]).unwrap_or(1)
}

pub(crate) static DEPLOYMENT_COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", "Number of the pod with ready state", 0),
    col(
        "Up-to-date",
        "string",
        "Total number of non-terminating pods targeted by this deployment that have the desired template spec.",
        0,
    ),
    col(
        "Available",
        "string",
        "Total number of available non-terminating pods (ready for at least minReadySeconds) targeted by this deployment.",
        0,
    ),
    AGE,
    col("Containers", "string", CONTAINERS_DESC, 1),
    col("Images", "string", IMAGES_DESC, 1),
    col("Selector", "string", SELECTOR_DESC, 1),
];

pub(crate) fn deployment_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let (names, images) = container_cells(obj.at(&["spec", "template", "spec"]));
    // Upstream prints the selector's String() here, not FormatLabelSelector.
    let selector =
        selector_string(obj.at(&["spec", "selector"])).unwrap_or_else(|| "<invalid>".to_string());
    vec![
        s(obj.name()),
        s(format!(
            "{}/{}",
            obj.int(&["status", "readyReplicas"]),
            desired(obj)
        )),
        n(obj.int(&["status", "updatedReplicas"])),
        n(obj.int(&["status", "availableReplicas"])),
        s(obj.age(now)),
        s(names),
        s(images),
        s(selector),
    ]
}

pub(crate) static REPLICASET_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset/#how-a-replicaset-works",
        0,
    ),
    col(
        "Current",
        "integer",
        "Replicas is the most recently observed number of non-terminating pods. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicaset/#how-a-replicaset-works",
        0,
    ),
    col(
        "Ready",
        "integer",
        "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
        0,
    ),
    AGE,
    col("Containers", "string", CONTAINERS_DESC, 1),
    col("Images", "string", IMAGES_DESC, 1),
    col(
        "Selector",
        "string",
        "Selector is a label query over pods that should match the replica count. Label keys and values that must match in order to be controlled by this replica set. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
        1,
    ),
];

pub(crate) fn replicaset_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let (names, images) = container_cells(obj.at(&["spec", "template", "spec"]));
    vec![
        s(obj.name()),
        n(desired(obj)),
        n(obj.int(&["status", "replicas"])),
        n(obj.int(&["status", "readyReplicas"])),
        s(obj.age(now)),
        s(names),
        s(images),
        s(format_label_selector(obj.at(&["spec", "selector"]))),
    ]
}

pub(crate) static RC_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller",
        0,
    ),
    col(
        "Current",
        "integer",
        "Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller#what-is-a-replicationcontroller",
        0,
    ),
    col(
        "Ready",
        "integer",
        "The number of ready replicas for this replication controller.",
        0,
    ),
    AGE,
    col("Containers", "string", CONTAINERS_DESC, 1),
    col("Images", "string", IMAGES_DESC, 1),
    col(
        "Selector",
        "string",
        "Selector is a label query over pods that should match the Replicas count. If Selector is empty, it is defaulted to the labels present on the Pod template. Label keys and values that must match in order to be controlled by this replication controller, if empty defaulted to labels on Pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels#label-selectors",
        1,
    ),
];

pub(crate) fn rc_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let (names, images) = container_cells(obj.at(&["spec", "template", "spec"]));
    vec![
        s(obj.name()),
        n(desired(obj)),
        n(obj.int(&["status", "replicas"])),
        n(obj.int(&["status", "readyReplicas"])),
        s(obj.age(now)),
        s(names),
        s(images),
        s(format_labels(obj.map(&["spec", "selector"]))),
    ]
}

pub(crate) static STATEFULSET_COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string", "Number of the pod with ready state", 0),
    AGE,
    col("Containers", "string", CONTAINERS_DESC, 1),
    col("Images", "string", IMAGES_DESC, 1),
];

pub(crate) fn statefulset_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let (names, images) = container_cells(obj.at(&["spec", "template", "spec"]));
    vec![
        s(obj.name()),
        s(format!(
            "{}/{}",
            obj.int(&["status", "readyReplicas"]),
            desired(obj)
        )),
        s(obj.age(now)),
        s(names),
        s(images),
    ]
}

pub(crate) static DAEMONSET_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod). More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
        0,
    ),
    col(
        "Current",
        "integer",
        "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod. More info: https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
        0,
    ),
    col(
        "Ready",
        "integer",
        "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.",
        0,
    ),
    col(
        "Up-to-date",
        "integer",
        "The total number of nodes that are running updated daemon pod",
        0,
    ),
    col(
        "Available",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
        0,
    ),
    col(
        "Node Selector",
        "string",
        "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
        0,
    ),
    AGE,
    col("Containers", "string", CONTAINERS_DESC, 1),
    col("Images", "string", IMAGES_DESC, 1),
    col(
        "Selector",
        "string",
        "A label query over pods that are managed by the daemon set. Must match in order to be controlled. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
        1,
    ),
];

pub(crate) fn daemonset_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let (names, images) = container_cells(obj.at(&["spec", "template", "spec"]));
    let st = obj.at(&["status"]);
    vec![
        s(obj.name()),
        n(st.int(&["desiredNumberScheduled"])),
        n(st.int(&["currentNumberScheduled"])),
        n(st.int(&["numberReady"])),
        n(st.int(&["updatedNumberScheduled"])),
        n(st.int(&["numberAvailable"])),
        s(format_labels(obj.map(&[
            "spec",
            "template",
            "spec",
            "nodeSelector",
        ]))),
        s(obj.age(now)),
        s(names),
        s(images),
        s(format_label_selector(obj.at(&["spec", "selector"]))),
    ]
}

pub(crate) static CONTROLLER_REVISION_COLUMNS: &[Column] = &[
    NAME,
    col("Controller", "string", "Controller of the object", 0),
    col(
        "Revision",
        "string",
        "Revision indicates the revision of the state represented by Data.",
        0,
    ),
    AGE,
];

pub(crate) fn controller_revision_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let controller = obj
        .arr(&["metadata", "ownerReferences"])
        .iter()
        .map(Obj)
        .find(|r| r.opt_bool(&["controller"]) == Some(true));
    let controller = match controller {
        None => "<none>".to_string(),
        Some(r) => {
            let group = r
                .str(&["apiVersion"])
                .split_once('/')
                .map_or("", |(g, _)| g);
            let kind = r.str(&["kind"]);
            let name = r.str(&["name"]);
            match (kind.is_empty() && group.is_empty(), group.is_empty()) {
                (true, _) => name.to_string(),
                (false, true) => format!("{}/{name}", kind.to_lowercase()),
                (false, false) => {
                    format!("{}.{}/{name}", kind.to_lowercase(), group.to_lowercase())
                }
            }
        }
    };
    vec![
        s(obj.name()),
        s(controller),
        n(obj.int(&["revision"])),
        s(obj.age(now)),
    ]
}
