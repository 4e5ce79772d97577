//! Small helpers for filling in defaults on JSON objects the way Go's zero-value checks do.

use serde_json::{Map, Value};

pub(crate) type Obj = Map<String, Value>;

/// Whether `v` is what Go would decode as the zero value of its field.
fn is_zero(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::Bool(b)) => !b,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
    }
}

/// Sets `key` to `value` when it is absent or null (a nil pointer in Go).
pub(crate) fn set_if_nil(m: &mut Obj, key: &str, value: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), value);
    }
}

/// Sets `key` to `value` when it is absent, null, `""`, `0`, or empty (a zero value in Go).
pub(crate) fn set_if_zero(m: &mut Obj, key: &str, value: Value) {
    if is_zero(m.get(key)) {
        m.insert(key.to_string(), value);
    }
}

/// The string at `key`, or `""`.
pub(crate) fn str_of<'a>(m: &'a Obj, key: &str) -> &'a str {
    m.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The object at `key` if there is one.
pub(crate) fn get_obj<'a>(m: &'a mut Obj, key: &str) -> Option<&'a mut Obj> {
    m.get_mut(key).and_then(Value::as_object_mut)
}

/// The object at `key`, created (replacing null or a non-object) when missing.
pub(crate) fn ensure_obj<'a>(m: &'a mut Obj, key: &str) -> &'a mut Obj {
    let slot = m
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(o) => o,
        _ => unreachable!("slot was just made an object"),
    }
}

/// Follows a chain of object keys, returning the innermost object if all exist.
pub(crate) fn path_obj<'a>(m: &'a mut Obj, keys: &[&str]) -> Option<&'a mut Obj> {
    let mut cur = m;
    for k in keys {
        cur = get_obj(cur, k)?;
    }
    Some(cur)
}

/// Calls `f` on every object element of the array at `key`.
pub(crate) fn each_obj(m: &mut Obj, key: &str, mut f: impl FnMut(&mut Obj)) {
    if let Some(Value::Array(items)) = m.get_mut(key) {
        for item in items.iter_mut().filter_map(Value::as_object_mut) {
            f(item);
        }
    }
}

/// Calls `f` on the object at `key` if there is one.
pub(crate) fn with_obj(m: &mut Obj, key: &str, f: impl FnOnce(&mut Obj)) {
    if let Some(o) = get_obj(m, key) {
        f(o);
    }
}

/// Whether the array at `key` is absent or empty.
pub(crate) fn array_empty(m: &Obj, key: &str) -> bool {
    m.get(key)
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
}

/// Rewrites every quantity of the resource list at `key` in canonical form,
/// rounded up to milli-units (`SetDefaults_ResourceList`).
pub(crate) fn resource_list(m: &mut Obj, key: &str) {
    if let Some(list) = get_obj(m, key) {
        for v in list.values_mut() {
            canonical(v, true);
        }
    }
}

/// Rewrites the quantity at `key` in canonical form.
pub(crate) fn quantity(m: &mut Obj, key: &str) {
    if let Some(v) = m.get_mut(key) {
        canonical(v, false);
    }
}

fn canonical(v: &mut Value, round_to_milli: bool) {
    let text = match v {
        Value::String(s) => crate::quantity::canonicalize(s, round_to_milli),
        Value::Number(n) => crate::quantity::canonicalize(&n.to_string(), round_to_milli),
        _ => None,
    };
    if let Some(t) = text {
        *v = Value::String(t);
    }
}

/// Canonicalizes `resources.limits` and `resources.requests` of `m`.
pub(crate) fn requirements(m: &mut Obj) {
    if let Some(r) = get_obj(m, "resources") {
        resource_list(r, "limits");
        resource_list(r, "requests");
    }
}
