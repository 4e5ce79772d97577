//! Small helpers shared by every validator: JSON access, field paths and error constructors.

use rkube_api::{ErrorType, FieldError, field_error::FieldValue};
use serde_json::{Map, Value};

/// The error list every validator returns.
pub type Errs = Vec<FieldError>;

/// `parent.child`, or `child` when the parent is the root.
pub fn at(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

/// `parent[i]`.
pub fn idx(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// `parent[key]`, upstream's rendering of a map key in a path.
pub fn key(parent: &str, k: &str) -> String {
    format!("{parent}[{k}]")
}

/// The string at `v[name]`, if it is a string.
pub fn s<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name).and_then(Value::as_str)
}

/// The string at `v[name]`, or "" when absent.
pub fn se<'a>(v: &'a Value, name: &str) -> &'a str {
    s(v, name).unwrap_or("")
}

/// The integer at `v[name]`.
pub fn int(v: &Value, name: &str) -> Option<i64> {
    v.get(name).and_then(Value::as_i64)
}

/// The boolean at `v[name]`, false when absent.
pub fn flag(v: &Value, name: &str) -> bool {
    v.get(name).and_then(Value::as_bool).unwrap_or(false)
}

/// The array at `v[name]`, empty when absent.
pub fn arr<'a>(v: &'a Value, name: &str) -> &'a [Value] {
    v.get(name)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

/// The object at `v[name]`, empty when absent.
pub fn map_of<'a>(v: &'a Value, name: &str) -> &'a Map<String, Value> {
    v.get(name).and_then(Value::as_object).unwrap_or(&EMPTY)
}

/// Whether `v[name]` is present and not null.
pub fn has(v: &Value, name: &str) -> bool {
    v.get(name).is_some_and(|x| !x.is_null())
}

/// `v[name]`, or JSON null.
pub fn get<'a>(v: &'a Value, name: &str) -> &'a Value {
    v.get(name).unwrap_or(&Value::Null)
}

/// Renders a value as upstream's `field.Error` does: strings quoted, numbers bare, maps Go-style.
pub fn render(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::String(s) => quote(s),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Object(m) if m.values().all(Value::is_string) => {
            let mut keys: Vec<_> = m.keys().collect();
            keys.sort();
            let body = keys
                .iter()
                .map(|k| format!("{}:{}", quote(k), render(&m[k.as_str()])))
                .collect::<Vec<_>>()
                .join(", ");
            format!("map[string]string{{{body}}}")
        }
        Value::Array(a) if a.iter().all(Value::is_string) => {
            let body = a.iter().map(render).collect::<Vec<_>>().join(", ");
            format!("[]string{{{body}}}")
        }
        other => other.to_string(),
    }
}

/// Go's `%q` of a string (close enough: Rust's escaping of the same characters).
pub fn quote(s: &str) -> String {
    format!("{s:?}")
}

/// An Invalid error whose value is a string (rendered quoted).
pub fn invalid(field: impl Into<String>, value: &str, detail: impl Into<String>) -> FieldError {
    FieldError::invalid(field, value, detail)
}

/// An Invalid error whose value is rendered already (numbers, maps, structs).
pub fn invalid_raw(
    field: impl Into<String>,
    rendered: impl Into<String>,
    detail: impl Into<String>,
) -> FieldError {
    FieldError {
        kind: ErrorType::Invalid,
        field: field.into(),
        value: Some(FieldValue::Raw(rendered.into())),
        detail: detail.into(),
    }
}

/// An Invalid error for a JSON value, rendered as upstream would.
pub fn invalid_val(
    field: impl Into<String>,
    value: &Value,
    detail: impl Into<String>,
) -> FieldError {
    match value {
        Value::String(s) => FieldError::invalid(field, s, detail),
        other => invalid_raw(field, render(other), detail),
    }
}

/// An Invalid error for an integer.
pub fn invalid_int(field: impl Into<String>, n: i64, detail: impl Into<String>) -> FieldError {
    invalid_raw(field, n.to_string(), detail)
}

/// A Required error.
pub fn required(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
    FieldError::required(field, detail)
}

/// A Forbidden error.
pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
    FieldError::forbidden(field, detail)
}

/// A NotSupported error for a string value.
pub fn not_supported(field: impl Into<String>, value: &str, supported: &[&str]) -> FieldError {
    FieldError::not_supported(field, value, supported)
}

/// A Duplicate error for a string value.
pub fn duplicate(field: impl Into<String>, value: &str) -> FieldError {
    FieldError::duplicate(field, value)
}

/// A Duplicate error for a rendered value.
pub fn duplicate_raw(field: impl Into<String>, rendered: impl Into<String>) -> FieldError {
    FieldError {
        kind: ErrorType::Duplicate,
        field: field.into(),
        value: Some(FieldValue::Raw(rendered.into())),
        detail: String::new(),
    }
}

/// One Invalid error per message, all for the same string value.
pub fn each(field: &str, value: &str, msgs: Vec<String>) -> Errs {
    msgs.into_iter()
        .map(|m| FieldError::invalid(field, value, m))
        .collect()
}

/// Upstream's message for an integer outside an inclusive range.
pub fn range_msg(lo: i64, hi: i64) -> String {
    format!("must be between {lo} and {hi}, inclusive")
}

/// Upstream's `ValidateNonnegativeField`.
pub fn nonneg(v: &Value, name: &str, path: &str, errs: &mut Errs) {
    if let Some(n) = int(v, name)
        && n < 0
    {
        errs.push(invalid_int(
            at(path, name),
            n,
            "must be greater than or equal to 0",
        ));
    }
}

/// Upstream's immutable-field message.
pub const IMMUTABLE: &str = "field is immutable";

/// Adds a "field is immutable" error when `new[name] != old[name]`.
pub fn immutable(new: &Value, old: &Value, name: &str, path: &str, errs: &mut Errs) {
    let (n, o) = (get(new, name), get(old, name));
    if n != o {
        errs.push(invalid_val(at(path, name), n, IMMUTABLE));
    }
}
