//! Reading and writing `metadata` fields of objects held as JSON values.

use std::collections::BTreeMap;

use rkube_api::ResourceInfo;
use serde_json::{Map, Value, json};

/// The object's `metadata` map, created if missing.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    let Some(map) = obj.as_object_mut() else {
        unreachable_map()
    };
    let m = map.entry("metadata").or_insert_with(|| json!({}));
    if !m.is_object() {
        *m = json!({});
    }
    match m.as_object_mut() {
        Some(m) => m,
        None => unreachable_map(),
    }
}

#[allow(clippy::panic)]
fn unreachable_map() -> ! {
    panic!("value was just made an object")
}

/// A string field of `metadata`.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

pub fn name(obj: &Value) -> &str {
    meta_str(obj, "name").unwrap_or("")
}

pub fn namespace(obj: &Value) -> &str {
    meta_str(obj, "namespace").unwrap_or("")
}

/// The object's labels.
pub fn labels(obj: &Value) -> BTreeMap<String, String> {
    string_map(obj.get("metadata").and_then(|m| m.get("labels")))
}

/// A JSON object of strings as a map (non-strings skipped).
pub fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Sets `metadata.resourceVersion`.
pub fn set_resource_version(obj: &mut Value, rv: i64) {
    meta_mut(obj).insert("resourceVersion".into(), Value::String(rv.to_string()));
}

/// Removes `metadata.resourceVersion` (it is never stored; the store revision is).
pub fn clear_resource_version(obj: &mut Value) {
    meta_mut(obj).remove("resourceVersion");
}

/// The object's finalizers.
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_terminating(obj: &Value) -> bool {
    meta_str(obj, "deletionTimestamp").is_some()
}

/// Now, as upstream formats `metav1.Time` (RFC 3339, seconds).
pub fn now_rfc3339() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second())
        .map(|t| t.to_string())
        .unwrap_or_else(|_| now.to_string())
}

/// `now + secs` in RFC 3339.
pub fn rfc3339_after(secs: i64) -> String {
    let t = jiff::Timestamp::now().as_second().saturating_add(secs);
    jiff::Timestamp::from_second(t)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| now_rfc3339())
}

/// The store key of an object.
pub fn key(info: &ResourceInfo, namespace: &str, name: &str) -> String {
    if info.namespaced {
        format!("{}{namespace}/{name}", info.key_prefix())
    } else {
        format!("{}{name}", info.key_prefix())
    }
}

/// Splits a store key into namespace and name under `prefix`.
pub fn split_key<'a>(prefix: &str, key: &'a str) -> (&'a str, &'a str) {
    let rest = key.get(prefix.len()..).unwrap_or("");
    match rest.split_once('/') {
        Some((ns, name)) => (ns, name),
        None => ("", rest),
    }
}

/// Random suffix alphabet upstream uses for generated names (no vowels, no confusables).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `prefix` plus five random characters, as `generateName` does.
pub fn generate_name(prefix: &str) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let base: String = prefix.chars().take(58).collect();
    let suffix: String = (0..5)
        .map(|_| ALPHANUMS[rng.random_range(0..ALPHANUMS.len())] as char)
        .collect();
    format!("{base}{suffix}")
}

/// The parts of an object compared to decide whether `generation` moves: all but metadata and status.
pub fn spec_changed(old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Value {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
            m.remove("apiVersion");
            m.remove("kind");
        }
        v
    };
    strip(old) != strip(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let pods = rkube_api::registry::find("", "v1", "pods").unwrap();
        let k = key(pods, "default", "web");
        assert_eq!(k, "/registry/pods/default/web");
        assert_eq!(split_key("/registry/pods/", &k), ("default", "web"));
        let ns = rkube_api::registry::find("", "v1", "namespaces").unwrap();
        assert_eq!(
            split_key("/registry/namespaces/", &key(ns, "", "x")),
            ("", "x")
        );
    }

    #[test]
    fn generated_names_have_five_char_suffix() {
        let n = generate_name("web-");
        assert_eq!(n.len(), 9);
        assert!(n.starts_with("web-"));
    }
}
