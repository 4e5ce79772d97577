//! Which decoded scalar values are encoder noise and are left out of the JSON.
//!
//! Go's protobuf encoder writes every non-pointer field, empty or not, while Go's JSON
//! encoder leaves out `omitempty` fields that are empty. The decoder therefore:
//! * drops empty strings (a non-pointer `""` and an unset field mean the same), except the
//!   few pointer fields where `""` is a choice ([`keep_empty_string`]);
//! * never produces empty lists or maps (protobuf does not send them);
//! * keeps numbers and bools as sent, because pointer fields (`replicas: 0`,
//!   `automountServiceAccountToken: false`) must survive, except the non-pointer
//!   `omitempty` fields listed in [`OMIT_ZERO`], whose `0`/`false` is dropped;
//! * keeps empty messages as `{}` (Go's JSON writes non-pointer structs such as
//!   `resources: {}` and `strategy: {}`), except a zero `Time`/`MicroTime`, which Go's JSON
//!   writes as `null` and the decoder leaves out.

/// `(message short name, JSON field)` pairs of non-pointer Go fields tagged `omitempty`,
/// whose `0`/`false` the decoder drops. `"*"` matches any message.
pub const OMIT_ZERO: &[(&str, &str)] = &[
    ("*", "readOnly"),
    ("ObjectMeta", "generation"),
    ("ContainerPort", "hostPort"),
    ("ServicePort", "nodePort"),
    ("Container", "stdin"),
    ("Container", "stdinOnce"),
    ("Container", "tty"),
    ("EphemeralContainerCommon", "stdin"),
    ("EphemeralContainerCommon", "stdinOnce"),
    ("EphemeralContainerCommon", "tty"),
    ("PodSpec", "hostNetwork"),
    ("PodSpec", "hostPID"),
    ("PodSpec", "hostIPC"),
    ("Probe", "initialDelaySeconds"),
    ("Probe", "timeoutSeconds"),
    ("Probe", "periodSeconds"),
    ("Probe", "successThreshold"),
    ("Probe", "failureThreshold"),
    ("AWSElasticBlockStoreVolumeSource", "partition"),
    ("GCEPersistentDiskVolumeSource", "partition"),
    ("ServiceSpec", "publishNotReadyAddresses"),
    ("ServiceSpec", "healthCheckNodePort"),
    ("ServiceBackendPort", "number"),
    ("NodeSpec", "unschedulable"),
    ("ContainerStateTerminated", "signal"),
    ("PodCondition", "observedGeneration"),
    ("Condition", "observedGeneration"),
    ("Event", "count"),
    ("Event", "deprecatedCount"),
    ("Status", "code"),
    ("DeploymentSpec", "minReadySeconds"),
    ("DeploymentSpec", "paused"),
    ("DeploymentStatus", "observedGeneration"),
    ("DeploymentStatus", "replicas"),
    ("DeploymentStatus", "updatedReplicas"),
    ("DeploymentStatus", "readyReplicas"),
    ("DeploymentStatus", "availableReplicas"),
    ("DeploymentStatus", "unavailableReplicas"),
    ("ReplicaSetSpec", "minReadySeconds"),
    ("ReplicaSetStatus", "fullyLabeledReplicas"),
    ("ReplicaSetStatus", "readyReplicas"),
    ("ReplicaSetStatus", "availableReplicas"),
    ("ReplicaSetStatus", "observedGeneration"),
    ("ReplicationControllerSpec", "minReadySeconds"),
    ("ReplicationControllerStatus", "fullyLabeledReplicas"),
    ("ReplicationControllerStatus", "readyReplicas"),
    ("ReplicationControllerStatus", "availableReplicas"),
    ("ReplicationControllerStatus", "observedGeneration"),
    ("StatefulSetSpec", "minReadySeconds"),
    ("StatefulSetStatus", "observedGeneration"),
    ("StatefulSetStatus", "readyReplicas"),
    ("StatefulSetStatus", "currentReplicas"),
    ("StatefulSetStatus", "updatedReplicas"),
    ("DaemonSetSpec", "minReadySeconds"),
    ("DaemonSetStatus", "observedGeneration"),
    ("DaemonSetStatus", "updatedNumberScheduled"),
    ("DaemonSetStatus", "numberAvailable"),
    ("DaemonSetStatus", "numberUnavailable"),
    ("JobStatus", "active"),
    ("JobStatus", "succeeded"),
    ("JobStatus", "failed"),
    ("PodDisruptionBudgetStatus", "observedGeneration"),
    ("PriorityClass", "globalDefault"),
];

/// `(message short name, JSON field)` pairs of Go pointer strings where `""` differs from
/// unset (a PVC with `storageClassName: ""` asks for no class at all).
pub const KEEP_EMPTY_STRING: &[(&str, &str)] = &[("PersistentVolumeClaimSpec", "storageClassName")];

/// Whether a `0`/`false` in `message.field` is noise to drop.
pub fn omit_zero(message: &str, field: &str) -> bool {
    OMIT_ZERO
        .iter()
        .any(|&(m, f)| f == field && (m == "*" || m == message))
}

/// Whether an empty string in `message.field` is kept.
pub fn keep_empty_string(message: &str, field: &str) -> bool {
    KEEP_EMPTY_STRING
        .iter()
        .any(|&(m, f)| f == field && m == message)
}

/// Whether a decoded value stays in the JSON of `message` (a short message name).
pub fn keep(message: &str, field: &str, value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) if s.is_empty() => keep_empty_string(message, field),
        Value::Bool(false) => !omit_zero(message, field),
        Value::Number(n) if n.as_f64() == Some(0.0) => !omit_zero(message, field),
        _ => true,
    }
}
