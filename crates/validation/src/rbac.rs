//! Validation of RBAC objects: Roles, ClusterRoles and their bindings.

use serde_json::Value;

use crate::names::{is_dns1123_subdomain, is_valid_path_segment_name};
use crate::selector::validate_label_selector;
use crate::util::*;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Dispatches on the RBAC kind.
pub fn validate_rbac(kind: &str, obj: &Value, old: Option<&Value>) -> Errs {
    match kind {
        "Role" => validate_rules(arr(obj, "rules"), true),
        "ClusterRole" => validate_cluster_role(obj),
        "RoleBinding" => validate_binding(obj, old, true),
        "ClusterRoleBinding" => validate_binding(obj, old, false),
        _ => Errs::new(),
    }
}

fn validate_rules(rules: &[Value], namespaced: bool) -> Errs {
    let mut errs = Errs::new();
    for (i, rule) in rules.iter().enumerate() {
        let p = idx("rules", i);
        if arr(rule, "verbs").is_empty() {
            errs.push(required(
                at(&p, "verbs"),
                "verbs must contain at least one value",
            ));
        }
        let urls = arr(rule, "nonResourceURLs");
        if !urls.is_empty() {
            let up = at(&p, "nonResourceURLs");
            if namespaced {
                errs.push(invalid_val(
                    &up,
                    get(rule, "nonResourceURLs"),
                    "namespaced rules cannot apply to non-resource URLs",
                ));
            }
            if !arr(rule, "apiGroups").is_empty()
                || !arr(rule, "resources").is_empty()
                || !arr(rule, "resourceNames").is_empty()
            {
                errs.push(invalid_val(
                    &up,
                    get(rule, "nonResourceURLs"),
                    "rules cannot apply to both regular resources and non-resource URLs",
                ));
            }
            continue;
        }
        if arr(rule, "apiGroups").is_empty() {
            errs.push(required(
                at(&p, "apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if arr(rule, "resources").is_empty() {
            errs.push(required(
                at(&p, "resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
    errs
}

fn validate_cluster_role(obj: &Value) -> Errs {
    let mut errs = validate_rules(arr(obj, "rules"), false);
    if let Some(agg) = obj.get("aggregationRule").filter(|v| !v.is_null()) {
        let sels = arr(agg, "clusterRoleSelectors");
        if sels.is_empty() {
            errs.push(required(
                "aggregationRule.clusterRoleSelectors",
                "at least one clusterRoleSelector required if aggregationRule is non-nil",
            ));
        }
        for (i, s) in sels.iter().enumerate() {
            errs.extend(validate_label_selector(
                s,
                &idx("aggregationRule.clusterRoleSelectors", i),
            ));
        }
    }
    errs
}

fn validate_binding(obj: &Value, old: Option<&Value>, namespaced: bool) -> Errs {
    let mut errs = Errs::new();
    let rr = get(obj, "roleRef");
    let group = se(rr, "apiGroup");
    if group != RBAC_GROUP {
        errs.push(not_supported("roleRef.apiGroup", group, &[RBAC_GROUP]));
    }
    let kind = se(rr, "kind");
    if namespaced && !matches!(kind, "Role" | "ClusterRole") {
        errs.push(not_supported(
            "roleRef.kind",
            kind,
            &["Role", "ClusterRole"],
        ));
    } else if !namespaced && kind != "ClusterRole" {
        errs.push(not_supported("roleRef.kind", kind, &["ClusterRole"]));
    }
    let name = se(rr, "name");
    if name.is_empty() {
        errs.push(required("roleRef.name", ""));
    } else {
        errs.extend(each("roleRef.name", name, is_valid_path_segment_name(name)));
    }
    for (i, subj) in arr(obj, "subjects").iter().enumerate() {
        errs.extend(validate_subject(subj, namespaced, &idx("subjects", i)));
    }
    if let Some(old) = old
        && get(old, "roleRef") != rr
    {
        errs.push(invalid_val("roleRef", rr, "cannot change roleRef"));
    }
    errs
}

fn validate_subject(subj: &Value, namespaced: bool, p: &str) -> Errs {
    let mut errs = Errs::new();
    let name = se(subj, "name");
    if name.is_empty() {
        errs.push(required(at(p, "name"), ""));
    }
    let group = se(subj, "apiGroup");
    match se(subj, "kind") {
        "ServiceAccount" => {
            if !name.is_empty() {
                errs.extend(each(&at(p, "name"), name, is_dns1123_subdomain(name)));
            }
            if !group.is_empty() {
                errs.push(not_supported(at(p, "apiGroup"), group, &[""]));
            }
            if !namespaced && se(subj, "namespace").is_empty() {
                errs.push(required(at(p, "namespace"), ""));
            }
        }
        "User" | "Group" => {
            if group != RBAC_GROUP {
                errs.push(not_supported(at(p, "apiGroup"), group, &[RBAC_GROUP]));
            }
        }
        other => errs.push(not_supported(
            at(p, "kind"),
            other,
            &["ServiceAccount", "User", "Group"],
        )),
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
    fn roles() {
        let r = json!({"rules": [{"apiGroups": [""], "resources": ["pods"]}]});
        assert_eq!(
            msgs(validate_rbac("Role", &r, None)),
            vec!["rules[0].verbs: Required value: verbs must contain at least one value"]
        );
    }

    #[test]
    fn bindings() {
        let b = json!({"roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": "r"},
            "subjects": [{"kind": "ServiceAccount", "name": "default"}]});
        assert_eq!(
            msgs(validate_rbac("ClusterRoleBinding", &b, None)),
            vec![
                "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"",
                "subjects[0].namespace: Required value",
            ]
        );
        assert!(validate_rbac("RoleBinding", &b, None).is_empty());
        let mut changed = b.clone();
        changed["roleRef"]["name"] = json!("other");
        assert_eq!(
            validate_rbac("RoleBinding", &changed, Some(&b))[0].detail,
            "cannot change roleRef"
        );
    }
}
