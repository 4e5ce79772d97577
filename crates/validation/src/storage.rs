//! Validation of storage objects: PersistentVolume, PersistentVolumeClaim and StorageClass.

use serde_json::Value;

use crate::names::{is_dns1123_subdomain, is_qualified_name};
use crate::resources::validate_quantity;
use crate::selector::validate_label_selector;
use crate::util::*;

const ACCESS_MODES: &[&str] = &[
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];

/// PV sources upstream recognizes; exactly one must be set.
const PV_SOURCES: &[&str] = &[
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "glusterfs",
    "flexVolume",
    "nfs",
    "rbd",
    "quobyte",
    "cinder",
    "cephfs",
    "fc",
    "flocker",
    "azureFile",
    "vsphereVolume",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "local",
    "storageos",
    "csi",
    "iscsi",
];

fn validate_access_modes(spec: &Value, path: &str, required_detail: &str) -> Errs {
    let modes = arr(spec, "accessModes");
    let p = at(path, "accessModes");
    let mut errs = Errs::new();
    if modes.is_empty() {
        errs.push(required(&p, required_detail));
    }
    for m in modes {
        let m = m.as_str().unwrap_or("");
        if !ACCESS_MODES.contains(&m) {
            errs.push(not_supported(&p, m, ACCESS_MODES));
        }
    }
    errs
}

fn validate_volume_mode(spec: &Value, path: &str) -> Errs {
    match s(spec, "volumeMode") {
        Some(m) if !matches!(m, "Block" | "Filesystem") => {
            vec![not_supported(
                at(path, "volumeMode"),
                m,
                &["Block", "Filesystem"],
            )]
        }
        _ => Vec::new(),
    }
}

/// Validates a `PersistentVolumeClaimSpec` at `path`.
pub fn validate_pvc_spec(spec: &Value, path: &str) -> Errs {
    let mut errs = validate_access_modes(spec, path, "at least 1 access mode is required");
    if let Some(sel) = spec.get("selector").filter(|v| !v.is_null()) {
        errs.extend(validate_label_selector(sel, &at(path, "selector")));
    }
    let requests = map_of(get(spec, "resources"), "requests");
    match requests.get("storage") {
        None => errs.push(required(key(&at(path, "resources"), "storage"), "")),
        Some(q) => {
            let fp = key(&at(&at(path, "resources"), "requests"), "storage");
            if let Some(v) = validate_quantity("storage", q, &fp, &mut errs)
                && v <= 0.0
            {
                errs.push(invalid(
                    &fp,
                    &crate::quantity::text(q),
                    "must be greater than zero",
                ));
            }
        }
    }
    if let Some(sc) = s(spec, "storageClassName")
        && !sc.is_empty()
    {
        errs.extend(each(
            &at(path, "storageClassName"),
            sc,
            is_dns1123_subdomain(sc),
        ));
    }
    errs.extend(validate_volume_mode(spec, path));
    errs
}

/// Validates a PersistentVolumeClaim; its spec is mostly immutable.
pub fn validate_pvc(obj: &Value, old: Option<&Value>) -> Errs {
    let spec = get(obj, "spec");
    let mut errs = validate_pvc_spec(spec, "spec");
    if let Some(old) = old {
        let old_spec = get(old, "spec");
        let strip = |v: &Value, bound: bool| {
            let mut m = v.as_object().cloned().unwrap_or_default();
            if let Some(Value::Object(r)) = m.get_mut("resources") {
                r.remove("requests");
            }
            m.remove("volumeAttributesClassName");
            if !bound {
                m.remove("volumeName");
            }
            m
        };
        let bound = !se(old_spec, "volumeName").is_empty();
        if strip(spec, bound) != strip(old_spec, bound) {
            errs.push(forbidden(
                "spec",
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
            ));
        }
    }
    errs
}

/// Validates a PersistentVolume.
pub fn validate_pv(obj: &Value, _old: Option<&Value>) -> Errs {
    let spec = get(obj, "spec");
    let mut errs = validate_access_modes(spec, "spec", "");
    let cap = map_of(spec, "capacity");
    if cap.is_empty() {
        errs.push(required("spec.capacity", ""));
    }
    for (k, q) in cap {
        let fp = key("spec.capacity", k);
        if k != "storage" {
            errs.push(not_supported(&fp, k, &["storage"]));
        } else {
            validate_quantity(k, q, &fp, &mut errs);
        }
    }
    if let Some(rp) = s(spec, "persistentVolumeReclaimPolicy")
        && !matches!(rp, "Delete" | "Recycle" | "Retain")
    {
        errs.push(not_supported(
            "spec.persistentVolumeReclaimPolicy",
            rp,
            &["Delete", "Recycle", "Retain"],
        ));
    }
    let mut n = 0;
    for src in PV_SOURCES {
        let Some(v) = spec.get(*src).filter(|v| !v.is_null()) else {
            continue;
        };
        if n > 0 {
            errs.push(forbidden(
                at("spec", src),
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        n += 1;
        if matches!(*src, "hostPath" | "local" | "nfs") && se(v, "path").is_empty() {
            errs.push(required(at(&at("spec", src), "path"), ""));
        }
        if *src == "csi" && se(v, "driver").is_empty() {
            errs.push(required("spec.csi.driver", ""));
        }
    }
    if n == 0 {
        errs.push(required("spec", "must specify a volume type"));
    }
    if let Some(sc) = s(spec, "storageClassName")
        && !sc.is_empty()
    {
        errs.extend(each("spec.storageClassName", sc, is_dns1123_subdomain(sc)));
    }
    errs.extend(validate_volume_mode(spec, "spec"));
    errs
}

/// Validates a StorageClass.
pub fn validate_storage_class(obj: &Value, old: Option<&Value>) -> Errs {
    let mut errs = Errs::new();
    let prov = se(obj, "provisioner");
    if prov.is_empty() {
        errs.push(required("provisioner", ""));
    } else {
        errs.extend(each(
            "provisioner",
            prov,
            is_qualified_name(&prov.to_lowercase()),
        ));
    }
    if let Some(rp) = s(obj, "reclaimPolicy")
        && !matches!(rp, "Delete" | "Retain")
    {
        errs.push(not_supported("reclaimPolicy", rp, &["Delete", "Retain"]));
    }
    if let Some(m) = s(obj, "volumeBindingMode")
        && !matches!(m, "Immediate" | "WaitForFirstConsumer")
    {
        errs.push(not_supported(
            "volumeBindingMode",
            m,
            &["Immediate", "WaitForFirstConsumer"],
        ));
    }
    if let Some(old) = old {
        for f in ["parameters", "provisioner", "reclaimPolicy"] {
            if get(obj, f) != get(old, f) {
                errs.push(forbidden(f, format!("updates to {f} are forbidden.")));
            }
        }
        immutable(obj, old, "volumeBindingMode", "", &mut errs);
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msgs(e: Errs) -> Vec<String> {
        e.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn pvc() {
        assert_eq!(
            msgs(validate_pvc(&json!({"spec": {}}), None)),
            vec![
                "spec.accessModes: Required value: at least 1 access mode is required",
                "spec.resources[storage]: Required value",
            ]
        );
        let ok = json!({"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
        assert!(validate_pvc(&ok, None).is_empty());
        let mut changed = ok.clone();
        changed["spec"]["accessModes"] = json!(["ReadWriteMany"]);
        assert_eq!(validate_pvc(&changed, Some(&ok)).len(), 1);
        let mut grown = ok.clone();
        grown["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
        assert!(validate_pvc(&grown, Some(&ok)).is_empty());
    }

    #[test]
    fn pv_and_storage_class() {
        let pv = json!({"spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}, "hostPath": {"path": "/x"}}});
        assert!(validate_pv(&pv, None).is_empty());
        assert_eq!(
            msgs(validate_storage_class(&json!({}), None)),
            vec!["provisioner: Required value"]
        );
    }
}
