//! Validation of pod volumes: unique names and exactly one well-formed source each.

use std::collections::HashSet;

use serde_json::Value;

use crate::container::validate_local_descending_path;
use crate::names::{is_config_map_key, is_dns1123_label};
use crate::quantity;
use crate::util::*;

/// Every volume source, in upstream's order of checking.
const SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "quobyte",
    "downwardAPI",
    "fc",
    "flexVolume",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "projected",
    "scaleIO",
    "csi",
    "ephemeral",
    "image",
];

const FILE_MODE_MSG: &str = "must be a number between 0 and 0777 (octal), both inclusive";

/// Validates `volumes`; returns the errors and the names of the valid volumes.
pub fn validate_volumes(volumes: &[Value], path: &str) -> (Errs, HashSet<String>) {
    let mut errs = Errs::new();
    let mut names = HashSet::new();
    for (i, vol) in volumes.iter().enumerate() {
        let p = idx(path, i);
        let mut el = validate_source(vol, &p);
        let name = se(vol, "name");
        if name.is_empty() {
            el.push(required(at(&p, "name"), ""));
        } else {
            el.extend(each(&at(&p, "name"), name, is_dns1123_label(name)));
        }
        if names.contains(name) {
            el.push(duplicate(at(&p, "name"), name));
        }
        if el.is_empty() {
            names.insert(name.to_string());
        } else {
            errs.extend(el);
        }
    }
    (errs, names)
}

fn validate_source(vol: &Value, p: &str) -> Errs {
    let mut errs = Errs::new();
    let mut n = 0;
    for src in SOURCES {
        let Some(v) = vol.get(*src).filter(|v| !v.is_null()) else {
            continue;
        };
        let sp = at(p, src);
        if n > 0 {
            errs.push(forbidden(sp, "may not specify more than 1 volume type"));
            continue;
        }
        n += 1;
        errs.extend(validate_one(src, v, &sp));
    }
    if n == 0 {
        errs.push(required(p, "must specify a volume type"));
    }
    errs
}

fn validate_one(src: &str, v: &Value, sp: &str) -> Errs {
    let mut errs = Errs::new();
    match src {
        "hostPath" => {
            if se(v, "path").is_empty() {
                errs.push(required(at(sp, "path"), ""));
            }
            const TYPES: &[&str] = &[
                "",
                "BlockDevice",
                "CharDevice",
                "Directory",
                "DirectoryOrCreate",
                "File",
                "FileOrCreate",
                "Socket",
            ];
            if let Some(t) = s(v, "type")
                && !TYPES.contains(&t)
            {
                errs.push(not_supported(at(sp, "type"), t, TYPES));
            }
        }
        "emptyDir" => {
            if let Some(m) = s(v, "medium")
                && !matches!(m, "" | "Memory" | "HugePages")
                && !m.starts_with("HugePages-")
            {
                errs.push(not_supported(
                    at(sp, "medium"),
                    m,
                    &["", "Memory", "HugePages"],
                ));
            }
            if let Some(q) = v.get("sizeLimit").filter(|q| !q.is_null()) {
                match quantity::parse_value(q) {
                    Ok(x) if x < 0.0 => errs.push(forbidden(
                        at(sp, "sizeLimit"),
                        "SizeLimit field must be a valid resource quantity",
                    )),
                    Ok(_) => {}
                    Err(e) => errs.push(invalid(
                        at(sp, "sizeLimit"),
                        &quantity::text(q),
                        e.to_string(),
                    )),
                }
            }
        }
        "secret" => {
            if se(v, "secretName").is_empty() {
                errs.push(required(at(sp, "secretName"), ""));
            }
            errs.extend(validate_mode_and_items(v, sp));
        }
        "configMap" => {
            if se(v, "name").is_empty() {
                errs.push(required(at(sp, "name"), ""));
            }
            errs.extend(validate_mode_and_items(v, sp));
        }
        "persistentVolumeClaim" if se(v, "claimName").is_empty() => {
            errs.push(required(at(sp, "claimName"), ""));
        }
        "nfs" => {
            if se(v, "server").is_empty() {
                errs.push(required(at(sp, "server"), ""));
            }
            let path = se(v, "path");
            if path.is_empty() {
                errs.push(required(at(sp, "path"), ""));
            } else if !path.starts_with('/') {
                errs.push(invalid(at(sp, "path"), path, "must be an absolute path"));
            }
        }
        "downwardAPI" => {
            errs.extend(validate_mode(v, "defaultMode", sp));
            for (i, item) in arr(v, "items").iter().enumerate() {
                let ip = idx(&at(sp, "items"), i);
                errs.extend(validate_item_path(item, &ip));
                let n = ["fieldRef", "resourceFieldRef"]
                    .iter()
                    .filter(|k| has(item, k))
                    .count();
                if n != 1 {
                    errs.push(invalid_raw(
                        &ip,
                        "",
                        "must specify one of: `fieldRef` or `resourceFieldRef`",
                    ));
                }
            }
        }
        "projected" => {
            errs.extend(validate_mode(v, "defaultMode", sp));
            for (i, source) in arr(v, "sources").iter().enumerate() {
                let pp = idx(&at(sp, "sources"), i);
                let kinds = [
                    "secret",
                    "configMap",
                    "downwardAPI",
                    "serviceAccountToken",
                    "clusterTrustBundle",
                ];
                let n = kinds.iter().filter(|k| has(source, k)).count();
                if n != 1 {
                    errs.push(forbidden(
                        &pp,
                        "may not specify more than 1 volume type per source",
                    ));
                }
                for k in ["secret", "configMap"] {
                    if let Some(x) = source.get(k).filter(|x| !x.is_null()) {
                        errs.extend(validate_mode_and_items(x, &at(&pp, k)));
                    }
                }
                if let Some(t) = source.get("serviceAccountToken").filter(|x| !x.is_null()) {
                    let tp = at(&pp, "serviceAccountToken");
                    if let Some(exp) = int(t, "expirationSeconds")
                        && exp < 600
                    {
                        errs.push(invalid_int(
                            at(&tp, "expirationSeconds"),
                            exp,
                            "may not specify a duration less than 10 minutes",
                        ));
                    }
                    if se(t, "path").is_empty() {
                        errs.push(required(at(&tp, "path"), ""));
                    }
                }
            }
        }
        "csi" if se(v, "driver").is_empty() => errs.push(required(at(sp, "driver"), "")),
        "image" if se(v, "reference").is_empty() => errs.push(required(at(sp, "reference"), "")),
        "gitRepo" if se(v, "repository").is_empty() => {
            errs.push(required(at(sp, "repository"), ""))
        }
        _ => {}
    }
    errs
}

fn validate_mode(v: &Value, name: &str, p: &str) -> Errs {
    match int(v, name) {
        Some(m) if !(0..=0o777).contains(&m) => vec![invalid_int(at(p, name), m, FILE_MODE_MSG)],
        _ => Vec::new(),
    }
}

fn validate_item_path(item: &Value, ip: &str) -> Errs {
    let path = se(item, "path");
    if path.is_empty() {
        return vec![required(at(ip, "path"), "")];
    }
    let mut errs = validate_local_descending_path(path, &at(ip, "path"));
    if path.len() > 4096 {
        errs.push(rkube_api::FieldError::too_long(at(ip, "path"), 4096));
    }
    if path.split('/').next() == Some("..") || path.starts_with("..") {
        errs.push(invalid(at(ip, "path"), path, "must not start with '..'"));
    }
    errs
}

fn validate_mode_and_items(v: &Value, sp: &str) -> Errs {
    let mut errs = validate_mode(v, "defaultMode", sp);
    for (i, item) in arr(v, "items").iter().enumerate() {
        let ip = idx(&at(sp, "items"), i);
        let k = se(item, "key");
        if k.is_empty() {
            errs.push(required(at(&ip, "key"), ""));
        } else {
            errs.extend(each(&at(&ip, "key"), k, is_config_map_key(k)));
        }
        errs.extend(validate_item_path(item, &ip));
        errs.extend(validate_mode(item, "mode", &ip));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn volumes() {
        let vols = json!([
            {"name": "a", "emptyDir": {}},
            {"name": "a", "emptyDir": {}},
            {"name": "b"},
            {"name": "c", "emptyDir": {}, "hostPath": {"path": "/x"}},
            {"name": "d", "configMap": {"name": "cm", "defaultMode": 4096}}
        ]);
        let (errs, names) = validate_volumes(vols.as_array().unwrap(), "spec.volumes");
        let e: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            e,
            vec![
                "spec.volumes[1].name: Duplicate value: \"a\"",
                "spec.volumes[2]: Required value: must specify a volume type",
                "spec.volumes[3].emptyDir: Forbidden: may not specify more than 1 volume type",
                "spec.volumes[4].configMap.defaultMode: Invalid value: 4096: must be a number between 0 and 0777 (octal), both inclusive",
            ]
        );
        assert_eq!(names, HashSet::from(["a".to_string()]));
    }
}
