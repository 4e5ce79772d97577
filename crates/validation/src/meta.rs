//! Validation of `metadata`: names, namespace, labels, annotations, owners and finalizers.

use serde_json::Value;

use crate::names::{NameRule, is_dns1123_label, is_qualified_name, is_valid_label_value};
use crate::util::*;

/// Upper bound of the summed size of all annotation keys and values.
pub const TOTAL_ANNOTATION_SIZE: usize = 256 * 1024;

/// Validates an object's metadata on create (name, generateName, namespace, labels, ...).
pub fn validate_object_meta(meta: &Value, namespaced: bool, name_fn: NameRule, path: &str) -> Errs {
    let mut errs = Errs::new();
    let gen_name = se(meta, "generateName");
    if !gen_name.is_empty() {
        errs.extend(each(
            &at(path, "generateName"),
            gen_name,
            name_fn.check(gen_name, true),
        ));
    }
    let name = se(meta, "name");
    if name.is_empty() {
        errs.push(required(
            at(path, "name"),
            "name or generateName is required",
        ));
    } else {
        errs.extend(each(&at(path, "name"), name, name_fn.check(name, false)));
    }
    errs.extend(meta_common(meta, namespaced, path));
    errs
}

fn meta_common(meta: &Value, namespaced: bool, path: &str) -> Errs {
    let mut errs = Errs::new();
    let ns = se(meta, "namespace");
    if namespaced {
        if ns.is_empty() {
            errs.push(required(at(path, "namespace"), ""));
        } else {
            errs.extend(each(&at(path, "namespace"), ns, is_dns1123_label(ns)));
        }
    } else if !ns.is_empty() {
        errs.push(forbidden(at(path, "namespace"), "not allowed on this type"));
    }
    nonneg(meta, "generation", path, &mut errs);
    errs.extend(validate_labels(get(meta, "labels"), &at(path, "labels")));
    errs.extend(validate_annotations(
        get(meta, "annotations"),
        &at(path, "annotations"),
    ));
    errs.extend(validate_owner_references(
        arr(meta, "ownerReferences"),
        &at(path, "ownerReferences"),
    ));
    errs.extend(validate_finalizers(
        arr(meta, "finalizers"),
        &at(path, "finalizers"),
    ));
    errs
}

/// Validates a label map: keys are qualified names, values label values.
pub fn validate_labels(labels: &Value, path: &str) -> Errs {
    let mut errs = Errs::new();
    let Some(map) = labels.as_object() else {
        return errs;
    };
    for (k, v) in map {
        errs.extend(each(path, k, is_qualified_name(k)));
        let v = v.as_str().unwrap_or("");
        errs.extend(each(path, v, is_valid_label_value(v)));
    }
    errs
}

/// Validates annotations: keys are qualified names (any case), total size bounded.
pub fn validate_annotations(annotations: &Value, path: &str) -> Errs {
    let mut errs = Errs::new();
    let Some(map) = annotations.as_object() else {
        return errs;
    };
    let mut total = 0usize;
    for (k, v) in map {
        errs.extend(each(path, k, is_qualified_name(&k.to_lowercase())));
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE {
        errs.push(rkube_api::FieldError::too_long(path, TOTAL_ANNOTATION_SIZE));
    }
    errs
}

fn validate_owner_references(refs: &[Value], path: &str) -> Errs {
    let mut errs = Errs::new();
    let mut first_controller: Option<String> = None;
    for r in refs {
        let api_version = se(r, "apiVersion");
        let version = api_version.rsplit('/').next().unwrap_or("");
        if version.is_empty() {
            errs.push(invalid(
                at(path, "apiVersion"),
                api_version,
                "version must not be empty",
            ));
        }
        for f in ["kind", "name", "uid"] {
            if se(r, f).is_empty() {
                errs.push(invalid(at(path, f), se(r, f), "must not be empty"));
            }
        }
        if api_version == "v1" && se(r, "kind") == "Event" {
            errs.push(invalid_val(
                path,
                r,
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if flag(r, "controller") {
            let cur = format!("{}/{}", se(r, "kind"), se(r, "name"));
            match &first_controller {
                Some(first) => errs.push(invalid_raw(
                    path,
                    Value::Array(refs.to_vec()).to_string(),
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {cur}"
                    ),
                )),
                None => first_controller = Some(cur),
            }
        }
    }
    errs
}

fn validate_finalizers(finalizers: &[Value], path: &str) -> Errs {
    let mut errs = Errs::new();
    let names: Vec<&str> = finalizers.iter().filter_map(Value::as_str).collect();
    for f in &names {
        errs.extend(each(path, f, is_qualified_name(f)));
    }
    if names.contains(&"orphan") && names.contains(&"foregroundDeletion") {
        errs.push(invalid_raw(
            path,
            render(&Value::Array(finalizers.to_vec())),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    errs
}

/// Validates metadata changes on update (beyond what the server itself enforces).
pub fn validate_object_meta_update(new: &Value, old: &Value, path: &str) -> Errs {
    let mut errs = Errs::new();
    if has(old, "deletionTimestamp") {
        let old_f: Vec<&Value> = arr(old, "finalizers").iter().collect();
        let extra: Vec<String> = arr(new, "finalizers")
            .iter()
            .filter(|f| !old_f.contains(f))
            .filter_map(|f| f.as_str().map(quote))
            .collect();
        if !extra.is_empty() {
            errs.push(forbidden(
                at(path, "finalizers"),
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    extra.join(", ")
                ),
            ));
        }
    }
    if let (Some(n), Some(o)) = (int(new, "generation"), int(old, "generation"))
        && n < o
    {
        errs.push(invalid_int(
            at(path, "generation"),
            n,
            "must not be decremented",
        ));
    }
    for f in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        immutable(new, old, f, path, &mut errs);
    }
    errs.extend(validate_labels(get(new, "labels"), &at(path, "labels")));
    errs.extend(validate_annotations(
        get(new, "annotations"),
        &at(path, "annotations"),
    ));
    errs.extend(validate_owner_references(
        arr(new, "ownerReferences"),
        &at(path, "ownerReferences"),
    ));
    errs.extend(validate_finalizers(
        arr(new, "finalizers"),
        &at(path, "finalizers"),
    ));
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
    fn bad_name() {
        let m = json!({"name": "Bad_Name", "namespace": "default"});
        let e = msgs(validate_object_meta(
            &m,
            true,
            NameRule::Dns1123Subdomain,
            "metadata",
        ));
        assert_eq!(
            e,
            vec![
                "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ]
        );
    }

    #[test]
    fn missing_name_and_namespace() {
        let e = msgs(validate_object_meta(
            &json!({}),
            true,
            NameRule::Dns1123Subdomain,
            "metadata",
        ));
        assert_eq!(
            e,
            vec![
                "metadata.name: Required value: name or generateName is required",
                "metadata.namespace: Required value"
            ]
        );
        let e = msgs(validate_object_meta(
            &json!({"name": "a", "namespace": "x"}),
            false,
            NameRule::Dns1123Label,
            "metadata",
        ));
        assert_eq!(
            e,
            vec!["metadata.namespace: Forbidden: not allowed on this type"]
        );
    }

    #[test]
    fn labels_and_owners() {
        let m = json!({"name": "a", "labels": {"a/b/c": "x", "ok": "-bad"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "", "uid": "u"}],
            "finalizers": ["bad finalizer"]});
        let e = validate_object_meta(&m, false, NameRule::Dns1123Subdomain, "metadata");
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "metadata.labels",
                "metadata.labels",
                "metadata.ownerReferences.name",
                "metadata.finalizers"
            ]
        );
    }

    #[test]
    fn annotations_size() {
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE);
        let m = json!({"name": "a", "annotations": {"k": big}});
        let e = msgs(validate_object_meta(
            &m,
            false,
            NameRule::Dns1123Subdomain,
            "metadata",
        ));
        assert_eq!(
            e,
            vec!["metadata.annotations: Too long: must have at most 262144 bytes"]
        );
    }
}
