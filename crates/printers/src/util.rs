//! Read-only accessors over JSON objects and the small formatters every printer shares.

use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::duration::{parse_time, since};

/// A borrowed view of a JSON object with forgiving accessors: missing fields read as Go zero values.
#[derive(Clone, Copy)]
pub struct Obj<'a>(pub &'a Value);

static EMPTY: Vec<Value> = Vec::new();

impl<'a> Obj<'a> {
    /// The value at `path`, if present and not null.
    pub fn get(&self, path: &[&str]) -> Option<&'a Value> {
        let mut cur = self.0;
        for key in path {
            cur = cur.get(key)?;
        }
        if cur.is_null() { None } else { Some(cur) }
    }

    /// A child object view (a null value when absent).
    pub fn at(&self, path: &[&str]) -> Obj<'a> {
        static NULL: Value = Value::Null;
        Obj(self.get(path).unwrap_or(&NULL))
    }

    /// Whether the field is present and not null.
    pub fn has(&self, path: &[&str]) -> bool {
        self.get(path).is_some()
    }

    /// The string at `path`, or "".
    pub fn str(&self, path: &[&str]) -> &'a str {
        self.get(path).and_then(Value::as_str).unwrap_or("")
    }

    /// The string at `path`, if present.
    pub fn opt_str(&self, path: &[&str]) -> Option<&'a str> {
        self.get(path).and_then(Value::as_str)
    }

    /// The integer at `path`, or 0.
    pub fn int(&self, path: &[&str]) -> i64 {
        self.opt_int(path).unwrap_or(0)
    }

    /// The integer at `path`, if present.
    pub fn opt_int(&self, path: &[&str]) -> Option<i64> {
        let v = self.get(path)?;
        v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
    }

    /// The boolean at `path`, if present.
    pub fn opt_bool(&self, path: &[&str]) -> Option<bool> {
        self.get(path).and_then(Value::as_bool)
    }

    /// The array at `path`, or an empty slice.
    pub fn arr(&self, path: &[&str]) -> &'a [Value] {
        self.get(path)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(EMPTY.as_slice())
    }

    /// The object at `path`, if present.
    pub fn map(&self, path: &[&str]) -> Option<&'a Map<String, Value>> {
        self.get(path).and_then(Value::as_object)
    }

    /// The number of entries of the map at `path`.
    pub fn map_len(&self, path: &[&str]) -> usize {
        self.map(path).map_or(0, Map::len)
    }

    /// The time at `path`, if present and valid.
    pub fn time(&self, path: &[&str]) -> Option<Timestamp> {
        parse_time(self.opt_str(path))
    }

    /// `metadata.name`.
    pub fn name(&self) -> &'a str {
        self.str(&["metadata", "name"])
    }

    /// The AGE cell: time since `metadata.creationTimestamp`.
    pub fn age(&self, now: Timestamp) -> String {
        since(self.time(&["metadata", "creationTimestamp"]), now)
    }

    /// Whether `metadata.deletionTimestamp` is set.
    pub fn deleting(&self) -> bool {
        self.has(&["metadata", "deletionTimestamp"])
    }
}

/// Upstream's `labels.FormatLabels`: sorted `k=v` pairs joined by commas, `<none>` when empty.
pub fn format_labels(map: Option<&Map<String, Value>>) -> String {
    let mut pairs: Vec<String> = map
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    if pairs.is_empty() {
        return "<none>".to_string();
    }
    pairs.sort();
    pairs.join(",")
}

/// The string form of a `metav1.LabelSelector` as `LabelSelectorAsSelector(...).String()` gives it
/// (`""` for a nil or empty selector, `None` for an invalid one).
pub fn selector_string(sel: Obj<'_>) -> Option<String> {
    let mut reqs: Vec<(String, String)> = Vec::new();
    if let Some(labels) = sel.map(&["matchLabels"]) {
        for (k, v) in labels {
            reqs.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())));
        }
    }
    for expr in sel.arr(&["matchExpressions"]) {
        let e = Obj(expr);
        let key = e.str(&["key"]);
        let mut values: Vec<&str> = e
            .arr(&["values"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        values.dedup();
        let text = match e.str(&["operator"]) {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            _ => return None,
        };
        reqs.push((key.to_string(), text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Some(
        reqs.into_iter()
            .map(|(_, t)| t)
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Upstream's `metav1.FormatLabelSelector`: the selector string, `<none>` when empty, `<error>` when invalid.
pub fn format_label_selector(sel: Obj<'_>) -> String {
    match selector_string(sel) {
        None => "<error>".to_string(),
        Some(s) if s.is_empty() => "<none>".to_string(),
        Some(s) => s,
    }
}

/// Upstream's `layoutContainerCells`: container names and images, each comma-joined.
pub fn container_cells(pod_spec: Obj<'_>) -> (String, String) {
    let containers = pod_spec.arr(&["containers"]);
    let names: Vec<&str> = containers.iter().map(|c| Obj(c).str(&["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| Obj(c).str(&["image"])).collect();
    (names.join(","), images.join(","))
}

/// Upstream's `printBoolPtr`: `True`, `False` or `<unset>`.
pub fn bool_ptr(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    }
}

/// The `String()` of a `resource.Quantity` field: as serialized, `0` for the zero quantity.
pub fn quantity(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "0".to_string(),
    }
}

/// The `String()` of an `intstr.IntOrString` value.
pub fn int_or_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// Shortcut for a JSON string cell.
pub fn s(v: impl Into<String>) -> Value {
    Value::String(v.into())
}

/// Shortcut for a JSON integer cell.
pub fn n(v: i64) -> Value {
    Value::from(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_sorted_or_none() {
        let m = json!({"tier": "web", "app": "nginx"});
        assert_eq!(format_labels(m.as_object()), "app=nginx,tier=web");
        assert_eq!(format_labels(None), "<none>");
    }

    #[test]
    fn selectors_like_apimachinery() {
        let sel = json!({"matchLabels": {"app": "nginx"}, "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "dev"]},
            {"key": "zone", "operator": "DoesNotExist"},
            {"key": "canary", "operator": "Exists"},
            {"key": "tier", "operator": "NotIn", "values": ["db"]}
        ]});
        assert_eq!(
            format_label_selector(Obj(&sel)),
            "app=nginx,canary,env in (dev,prod),tier notin (db),!zone"
        );
        assert_eq!(format_label_selector(Obj(&json!({}))), "<none>");
        assert_eq!(format_label_selector(Obj(&Value::Null)), "<none>");
        let bad = json!({"matchExpressions": [{"key": "a", "operator": "Bogus"}]});
        assert_eq!(format_label_selector(Obj(&bad)), "<error>");
    }
}
