//! The labels and annotations the agent puts on CRI sandboxes and containers,
//! upstream's keys, so the runtime alone tells which pod a container belongs to.

use std::collections::HashMap;

/// The pod's name.
pub const POD_NAME: &str = "io.kubernetes.pod.name";
/// The pod's namespace.
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// The pod's UID: how sandboxes and containers are found again after a restart.
pub const POD_UID: &str = "io.kubernetes.pod.uid";
/// The container's name in the pod spec.
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
/// The node whose agent created the object: several agents may share one runtime.
pub const NODE_NAME: &str = "io.rkube.node-name";

/// How many times the container was restarted before this instance.
pub const RESTART_COUNT: &str = "io.kubernetes.container.restartCount";
/// Hash of the container's spec (upstream's; informative here).
pub const CONTAINER_HASH: &str = "io.kubernetes.container.hash";
/// The image as the pod spec names it, to restart the container when it changes.
pub const CONTAINER_IMAGE: &str = "io.rkube.container.image";
/// The pod's termination grace period.
pub const GRACE_PERIOD: &str = "io.kubernetes.pod.terminationGracePeriod";
/// Where the container writes its termination message.
pub const TERMINATION_MESSAGE_PATH: &str = "io.kubernetes.container.terminationMessagePath";
/// `File` or `FallbackToLogsOnError`.
pub const TERMINATION_MESSAGE_POLICY: &str = "io.kubernetes.container.terminationMessagePolicy";

/// The label filter that selects every object of one pod on `node`.
pub fn pod_selector(node: &str, uid: &str) -> HashMap<String, String> {
    HashMap::from([
        (NODE_NAME.to_string(), node.to_string()),
        (POD_UID.to_string(), uid.to_string()),
    ])
}

/// The label filter that selects every object of the pod `namespace/name` on
/// `node` (by name: the API server's streaming and log requests carry no UID).
pub fn named_pod_selector(node: &str, namespace: &str, name: &str) -> HashMap<String, String> {
    HashMap::from([
        (NODE_NAME.to_string(), node.to_string()),
        (POD_NAMESPACE.to_string(), namespace.to_string()),
        (POD_NAME.to_string(), name.to_string()),
    ])
}

/// The label filter that selects every object `node`'s agent made.
pub fn node_selector(node: &str) -> HashMap<String, String> {
    HashMap::from([(NODE_NAME.to_string(), node.to_string())])
}
