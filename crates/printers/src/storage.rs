//! Printers for storage kinds: persistent volumes, claims and storage classes.

use jiff::Timestamp;
use serde_json::Value;

use crate::util::{Obj, quantity, s};
use crate::{AGE, Column, NAME, col};

pub(crate) static PV_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Capacity",
        "string",
        "capacity is the description of the persistent volume's resources and capacity. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity",
        0,
    ),
    col(
        "Access Modes",
        "string",
        "accessModes contains all ways the volume can be mounted. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes",
        0,
    ),
    col(
        "Reclaim Policy",
        "string",
        "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim. Valid options are Retain (default for manually created PersistentVolumes), Delete (default for dynamically provisioned PersistentVolumes), and Recycle (deprecated). Recycle must be supported by the volume plugin underlying this PersistentVolume. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#reclaiming",
        0,
    ),
    col(
        "Status",
        "string",
        "phase indicates if a volume is available, bound to a claim, or released by a claim. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase",
        0,
    ),
    col(
        "Claim",
        "string",
        "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim. Expected to be non-nil when bound. claim.VolumeName is the authoritative bind between PV and PVC. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#binding",
        0,
    ),
    col("StorageClass", "string", "StorageClass of the pv", 0),
    col(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pv",
        0,
    ),
    col(
        "Reason",
        "string",
        "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.",
        0,
    ),
    AGE,
    col(
        "VolumeMode",
        "string",
        "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state. Value of Filesystem is implied when not included in spec.",
        1,
    ),
];

pub(crate) static PVC_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Status",
        "string",
        "phase represents the current phase of PersistentVolumeClaim.",
        0,
    ),
    col(
        "Volume",
        "string",
        "volumeName is the binding reference to the PersistentVolume backing this claim.",
        0,
    ),
    col(
        "Capacity",
        "string",
        "capacity represents the actual resources of the underlying volume.",
        0,
    ),
    col(
        "Access Modes",
        "string",
        "accessModes contains the actual access modes the volume backing the PVC has. More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1",
        0,
    ),
    col("StorageClass", "string", "StorageClass of the pvc", 0),
    col(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pvc",
        0,
    ),
    AGE,
    col(
        "VolumeMode",
        "string",
        "volumeMode defines what type of volume is required by the claim. Value of Filesystem is implied when not included in claim spec.",
        1,
    ),
];

/// Upstream's `GetAccessModesAsString`: `RWO,ROX,RWX,RWOP` in that order, deduplicated.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(long, _)| has(long))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// The storage class of a PV or PVC: the beta annotation wins over `spec.storageClassName`.
fn storage_class(obj: Obj<'_>) -> String {
    if let Some(class) = obj.opt_str(&[
        "metadata",
        "annotations",
        "volume.beta.kubernetes.io/storage-class",
    ]) {
        return class.to_string();
    }
    obj.str(&["spec", "storageClassName"]).to_string()
}

fn or_unset(v: Option<&str>) -> String {
    v.map_or_else(|| "<unset>".to_string(), str::to_string)
}

pub(crate) fn pv_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let claim = if obj.has(&["spec", "claimRef"]) {
        format!(
            "{}/{}",
            obj.str(&["spec", "claimRef", "namespace"]),
            obj.str(&["spec", "claimRef", "name"])
        )
    } else {
        String::new()
    };
    let phase = if obj.deleting() {
        "Terminating"
    } else {
        obj.str(&["status", "phase"])
    };
    vec![
        s(obj.name()),
        s(quantity(obj.get(&["spec", "capacity", "storage"]))),
        s(access_modes(obj.arr(&["spec", "accessModes"]))),
        s(obj.str(&["spec", "persistentVolumeReclaimPolicy"])),
        s(phase),
        s(claim),
        s(storage_class(obj)),
        s(or_unset(
            obj.opt_str(&["spec", "volumeAttributesClassName"]),
        )),
        s(obj.str(&["status", "reason"])),
        s(obj.age(now)),
        s(or_unset(obj.opt_str(&["spec", "volumeMode"]))),
    ]
}

pub(crate) fn pvc_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let phase = if obj.deleting() {
        "Terminating"
    } else {
        obj.str(&["status", "phase"])
    };
    let volume = obj.str(&["spec", "volumeName"]);
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity(obj.get(&["status", "capacity", "storage"])),
            access_modes(obj.arr(&["status", "accessModes"])),
        )
    };
    vec![
        s(obj.name()),
        s(phase),
        s(volume),
        s(capacity),
        s(modes),
        s(storage_class(obj)),
        s(or_unset(
            obj.opt_str(&["status", "currentVolumeAttributesClassName"]),
        )),
        s(obj.age(now)),
        s(or_unset(obj.opt_str(&["spec", "volumeMode"]))),
    ]
}

pub(crate) static STORAGE_CLASS_COLUMNS: &[Column] = &[
    NAME,
    col(
        "Provisioner",
        "string",
        "provisioner indicates the type of the provisioner.",
        0,
    ),
    col(
        "ReclaimPolicy",
        "string",
        "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class. Defaults to Delete.",
        0,
    ),
    col(
        "VolumeBindingMode",
        "string",
        "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.  When unset, VolumeBindingImmediate is used. This field is only honored by servers that enable the VolumeScheduling feature.",
        0,
    ),
    col(
        "AllowVolumeExpansion",
        "string",
        "allowVolumeExpansion shows whether the storage class allow volume expand.",
        0,
    ),
    AGE,
];

pub(crate) fn storage_class_cells(obj: Obj<'_>, now: Timestamp) -> Vec<Value> {
    let is_default = |key: &str| obj.opt_str(&["metadata", "annotations", key]) == Some("true");
    let mut name = obj.name().to_string();
    if is_default("storageclass.kubernetes.io/is-default-class")
        || is_default("storageclass.beta.kubernetes.io/is-default-class")
    {
        name.push_str(" (default)");
    }
    vec![
        s(name),
        s(obj.str(&["provisioner"])),
        s(obj.opt_str(&["reclaimPolicy"]).unwrap_or("Delete")),
        s(obj.opt_str(&["volumeBindingMode"]).unwrap_or("Immediate")),
        Value::Bool(obj.opt_bool(&["allowVolumeExpansion"]).unwrap_or(false)),
        s(obj.age(now)),
    ]
}
