//! Unit tests that feed realistic objects to each printer and compare with what kubectl 1.33 shows.
#![allow(clippy::unwrap_used)]

mod core;
mod other;
mod pod;
mod workloads;

use jiff::Timestamp;
use rkube_api::{RESOURCES, ResourceInfo};
use serde_json::{Value, json};

/// The fixed "now" every test prints at.
pub(crate) fn now() -> Timestamp {
    "2024-05-01T12:00:00Z".parse().unwrap()
}

/// `now` minus `secs` seconds, as a metav1.Time string.
pub(crate) fn ago(secs: i64) -> String {
    let t = now() - jiff::SignedDuration::from_secs(secs);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(crate) fn info(group: &str, version: &str, kind: &str) -> &'static ResourceInfo {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
        .unwrap()
}

/// The cells of `obj` printed as the resource `group/version kind`.
pub(crate) fn row(group: &str, version: &str, kind: &str, obj: &Value) -> Vec<Value> {
    let info = info(group, version, kind);
    let cells = crate::cells(info, obj, now());
    assert_eq!(
        cells.len(),
        crate::columns(info).len(),
        "{kind}: one cell per column"
    );
    cells
}

/// The column headers as kubectl prints them (upper-cased), normal ones only or all with wide.
pub(crate) fn headers(group: &str, version: &str, kind: &str, wide: bool) -> Vec<String> {
    crate::columns(info(group, version, kind))
        .iter()
        .filter(|c| wide || c.priority == 0)
        .map(|c| c.name.to_uppercase())
        .collect()
}

/// Cells rendered as kubectl renders them (strings as-is, numbers and booleans via to_string).
pub(crate) fn text(cells: &[Value]) -> Vec<String> {
    cells
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

#[test]
fn every_resource_has_one_cell_per_column_even_for_empty_objects() {
    for r in RESOURCES {
        let cols = crate::columns(r);
        assert!(!cols.is_empty());
        assert_eq!(
            cols.iter().filter(|c| c.format == "name").count(),
            1,
            "{}",
            r.kind
        );
        for c in cols {
            assert!(matches!(
                c.type_,
                "string" | "integer" | "date" | "number" | "boolean"
            ));
            assert!(c.priority == 0 || c.priority == 1);
        }
        for obj in [json!({}), json!({"metadata": {"name": "x"}}), Value::Null] {
            assert_eq!(
                crate::cells(r, &obj, now()).len(),
                cols.len(),
                "{} {}",
                r.group,
                r.kind
            );
        }
    }
}

#[test]
fn default_table_for_kinds_without_a_printer() {
    for (group, kind) in [
        ("rbac.authorization.k8s.io", "Role"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("", "LimitRange"),
    ] {
        assert_eq!(headers(group, "v1", kind, true), ["NAME", "CREATED AT"]);
        let obj =
            json!({"metadata": {"name": "view", "creationTimestamp": "2024-04-30T08:15:00Z"}});
        assert_eq!(
            text(&row(group, "v1", kind, &obj)),
            ["view", "2024-04-30T08:15:00Z"]
        );
    }
    let cols = crate::columns(info("rbac.authorization.k8s.io", "v1", "Role"));
    assert_eq!(cols[1].type_, "date");
    assert_eq!(cols[0].format, "name");
}
