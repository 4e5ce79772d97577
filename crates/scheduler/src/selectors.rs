//! Label selectors and node selector terms, compiled once and matched against label maps.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelectorRequirement, NodeSelectorTerm};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Label map type used by every object.
pub type Labels = BTreeMap<String, String>;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq)]
pub enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
    /// Node selector only: numeric greater-than.
    Gt(String, i64),
    /// Node selector only: numeric less-than.
    Lt(String, i64),
    /// An invalid requirement: matches nothing.
    Never,
}

impl Requirement {
    fn from_parts(key: &str, op: &str, values: Option<&Vec<String>>) -> Requirement {
        let values = values.cloned().unwrap_or_default();
        let key = key.to_string();
        match op {
            "In" => Requirement::In(key, values),
            "NotIn" => Requirement::NotIn(key, values),
            "Exists" => Requirement::Exists(key),
            "DoesNotExist" => Requirement::DoesNotExist(key),
            "Gt" | "Lt" => match values.first().and_then(|v| v.parse::<i64>().ok()) {
                Some(n) if op == "Gt" => Requirement::Gt(key, n),
                Some(n) => Requirement::Lt(key, n),
                None => Requirement::Never,
            },
            _ => Requirement::Never,
        }
    }

    /// Whether `labels` satisfy the requirement.
    pub fn matches(&self, labels: Option<&Labels>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k));
        match self {
            Requirement::In(k, vs) => get(k).is_some_and(|v| vs.iter().any(|x| x == v)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|v| !vs.iter().any(|x| x == v)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
            Requirement::Gt(k, n) => get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *n),
            Requirement::Lt(k, n) => get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *n),
            Requirement::Never => false,
        }
    }
}

/// A compiled `metav1.LabelSelector`; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector {
    pub requirements: Vec<Requirement>,
}

impl Selector {
    /// Compiles a label selector.
    pub fn from_label_selector(sel: &LabelSelector) -> Selector {
        let mut requirements = Vec::new();
        for (k, v) in sel.match_labels.iter().flatten() {
            requirements.push(Requirement::In(k.clone(), vec![v.clone()]));
        }
        for e in sel.match_expressions.iter().flatten() {
            let r = Requirement::from_parts(&e.key, &e.operator, e.values.as_ref());
            // Gt/Lt are not valid in label selectors.
            let r = match r {
                Requirement::Gt(..) | Requirement::Lt(..) => Requirement::Never,
                r => r,
            };
            requirements.push(r);
        }
        Selector { requirements }
    }

    /// A selector from a plain map (`nodeSelector`).
    pub fn from_map(map: &Labels) -> Selector {
        Selector {
            requirements: map
                .iter()
                .map(|(k, v)| Requirement::In(k.clone(), vec![v.clone()]))
                .collect(),
        }
    }

    /// Whether `labels` match every requirement.
    pub fn matches(&self, labels: Option<&Labels>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// True when the selector matches everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

/// A compiled node selector term (expressions on labels, fields on `metadata.name`).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeTerm {
    labels: Vec<Requirement>,
    fields: Vec<Requirement>,
}

impl NodeTerm {
    /// Compiles a term.
    pub fn new(t: &NodeSelectorTerm) -> NodeTerm {
        let conv = |rs: Option<&Vec<NodeSelectorRequirement>>| {
            rs.into_iter()
                .flatten()
                .map(|r| Requirement::from_parts(&r.key, &r.operator, r.values.as_ref()))
                .collect::<Vec<_>>()
        };
        let mut fields = conv(t.match_fields.as_ref());
        for f in &mut fields {
            let key = match f {
                Requirement::In(k, _) | Requirement::NotIn(k, _) => Some(k.as_str()),
                _ => None,
            };
            if key != Some("metadata.name") {
                *f = Requirement::Never;
            }
        }
        NodeTerm {
            labels: conv(t.match_expressions.as_ref()),
            fields,
        }
    }

    /// Whether a node with these labels and name matches; an empty term matches nothing.
    pub fn matches(&self, labels: Option<&Labels>, node_name: &str) -> bool {
        if self.labels.is_empty() && self.fields.is_empty() {
            return false;
        }
        if !self.labels.iter().all(|r| r.matches(labels)) {
            return false;
        }
        if self.fields.is_empty() {
            return true;
        }
        let fields = Labels::from([("metadata.name".to_string(), node_name.to_string())]);
        self.fields.iter().all(|r| r.matches(Some(&fields)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn label_selector_ops() {
        let sel: LabelSelector = serde_json::from_value(json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["a", "b"]},
                {"key": "old", "operator": "DoesNotExist"},
                {"key": "env", "operator": "NotIn", "values": ["prod"]}
            ]
        }))
        .unwrap();
        let s = Selector::from_label_selector(&sel);
        assert!(s.matches(Some(&labels(&[("app", "web"), ("tier", "a")]))));
        assert!(!s.matches(Some(&labels(&[("app", "web"), ("tier", "c")]))));
        assert!(!s.matches(Some(&labels(&[
            ("app", "web"),
            ("tier", "a"),
            ("old", "1")
        ]))));
        assert!(!s.matches(Some(&labels(&[
            ("app", "web"),
            ("tier", "a"),
            ("env", "prod")
        ]))));
        assert!(Selector::default().matches(None));
    }

    #[test]
    fn node_terms() {
        let t: NodeSelectorTerm = serde_json::from_value(json!({
            "matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["4"]}],
            "matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]
        }))
        .unwrap();
        let t = NodeTerm::new(&t);
        assert!(t.matches(Some(&labels(&[("cores", "8")])), "n1"));
        assert!(!t.matches(Some(&labels(&[("cores", "8")])), "n2"));
        assert!(!t.matches(Some(&labels(&[("cores", "2")])), "n1"));
        let empty = NodeTerm::new(&NodeSelectorTerm::default());
        assert!(!empty.matches(None, "n1"));
    }
}
