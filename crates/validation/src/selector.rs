//! Label selectors: validation of `LabelSelector` and of map selectors, and matching labels.

use serde_json::Value;

use crate::meta::validate_labels;
use crate::names::{is_qualified_name, is_valid_label_value};
use crate::util::*;

/// Validates a `LabelSelector` (`matchLabels` and `matchExpressions`).
pub fn validate_label_selector(sel: &Value, path: &str) -> Errs {
    let mut errs = validate_labels(get(sel, "matchLabels"), &at(path, "matchLabels"));
    for (i, req) in arr(sel, "matchExpressions").iter().enumerate() {
        let p = idx(&at(path, "matchExpressions"), i);
        let op = se(req, "operator");
        let values = arr(req, "values");
        match op {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.push(required(
                        at(&p, "values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.push(forbidden(
                        at(&p, "values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            _ => errs.push(invalid(
                at(&p, "operator"),
                op,
                "not a valid selector operator",
            )),
        }
        let k = se(req, "key");
        errs.extend(each(&at(&p, "key"), k, is_qualified_name(k)));
        for (j, v) in values.iter().enumerate() {
            let v = v.as_str().unwrap_or("");
            errs.extend(each(&idx(&at(&p, "values"), j), v, is_valid_label_value(v)));
        }
    }
    errs
}

/// Whether a `LabelSelector` has no requirements at all.
pub fn selector_is_empty(sel: &Value) -> bool {
    map_of(sel, "matchLabels").is_empty() && arr(sel, "matchExpressions").is_empty()
}

/// Whether `labels` satisfy the `LabelSelector` `sel`.
pub fn selector_matches(sel: &Value, labels: &Value) -> bool {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    let labels_ok = map_of(sel, "matchLabels")
        .iter()
        .all(|(k, v)| label(k).is_some() && label(k) == v.as_str());
    labels_ok
        && arr(sel, "matchExpressions").iter().all(|req| {
            let k = se(req, "key");
            let in_values = |x: &str| arr(req, "values").iter().any(|v| v.as_str() == Some(x));
            match se(req, "operator") {
                "In" => label(k).is_some_and(in_values),
                "NotIn" => !label(k).is_some_and(in_values),
                "Exists" => label(k).is_some(),
                "DoesNotExist" => label(k).is_none(),
                _ => false,
            }
        })
}

/// Whether `labels` contain every pair of the map selector `sel`.
pub fn map_selector_matches(sel: &Value, labels: &Value) -> bool {
    sel.as_object().is_none_or(|m| {
        m.iter()
            .all(|(k, v)| labels.get(k).is_some() && labels.get(k) == Some(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matching() {
        let sel = json!({"matchLabels": {"app": "x"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["web"]},
            {"key": "gone", "operator": "DoesNotExist"}]});
        assert!(selector_matches(&sel, &json!({"app": "x", "tier": "web"})));
        assert!(!selector_matches(&sel, &json!({"app": "x", "tier": "db"})));
        assert!(!selector_matches(
            &sel,
            &json!({"app": "x", "tier": "web", "gone": ""})
        ));
        assert!(map_selector_matches(
            &json!({"a": "b"}),
            &json!({"a": "b", "c": "d"})
        ));
    }

    #[test]
    fn validation() {
        let sel = json!({"matchExpressions": [{"key": "k", "operator": "In"},
            {"key": "k", "operator": "Exists", "values": ["x"]}, {"key": "k", "operator": "Foo"}]});
        let e: Vec<String> = validate_label_selector(&sel, "spec.selector")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            e,
            vec![
                "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
                "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                "spec.selector.matchExpressions[2].operator: Invalid value: \"Foo\": not a valid selector operator",
            ]
        );
    }
}
