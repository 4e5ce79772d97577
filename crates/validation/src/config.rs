//! Validation of ConfigMaps, Secrets and ServiceAccounts.

use base64::Engine;
use rkube_api::FieldError;
use serde_json::{Map, Value};

use crate::names::is_config_map_key;
use crate::util::*;

/// Largest total size of a Secret's or ConfigMap's data.
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

const IMMUTABLE_SET: &str = "field is immutable when `immutable` is set";

fn decoded(v: &Value) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap_or(""))
        .ok()
}

fn check_keys(
    map: &Map<String, Value>,
    path: &str,
    other: &Map<String, Value>,
    dup_msg: &str,
) -> Errs {
    let mut errs = Errs::new();
    for k in map.keys() {
        errs.extend(each(&key(path, k), k, is_config_map_key(k)));
        if other.contains_key(k) {
            errs.push(invalid(key(path, k), k, dup_msg));
        }
    }
    errs
}

fn immutable_rules(new: &Value, old: &Value, fields: &[&str]) -> Errs {
    let mut errs = Errs::new();
    if !flag(old, "immutable") {
        return errs;
    }
    if !flag(new, "immutable") {
        errs.push(forbidden("immutable", IMMUTABLE_SET));
    }
    for f in fields {
        if get(new, f) != get(old, f) {
            errs.push(forbidden(*f, IMMUTABLE_SET));
        }
    }
    errs
}

/// Validates a ConfigMap.
pub fn validate_config_map(obj: &Value, old: Option<&Value>) -> Errs {
    let data = map_of(obj, "data");
    let binary = map_of(obj, "binaryData");
    let mut errs = check_keys(
        data,
        "data",
        binary,
        "duplicate of key present in binaryData",
    );
    errs.extend(check_keys(
        binary,
        "binaryData",
        data,
        "duplicate of key present in data",
    ));
    let total: usize = data
        .values()
        .map(|v| v.as_str().map_or(0, str::len))
        .sum::<usize>()
        + binary
            .values()
            .map(|v| decoded(v).map_or(0, |b| b.len()))
            .sum::<usize>();
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("", MAX_SECRET_SIZE));
    }
    if let Some(old) = old {
        errs.extend(immutable_rules(obj, old, &["data", "binaryData"]));
    }
    errs
}

/// Validates a Secret, including the keys its `type` requires.
pub fn validate_secret(obj: &Value, old: Option<&Value>) -> Errs {
    let data = map_of(obj, "data");
    let string_data = map_of(obj, "stringData");
    let mut errs = Errs::new();
    let mut total = 0;
    for (k, v) in data {
        errs.extend(each(&key("data", k), k, is_config_map_key(k)));
        total += decoded(v).map_or(0, |b| b.len());
    }
    for (k, v) in string_data {
        errs.extend(each(&key("stringData", k), k, is_config_map_key(k)));
        total += v.as_str().map_or(0, str::len);
    }
    if total > MAX_SECRET_SIZE {
        errs.push(FieldError::too_long("data", MAX_SECRET_SIZE));
    }
    let has_key = |k: &str| data.contains_key(k) || string_data.contains_key(k);
    let content = |k: &str| -> Option<Vec<u8>> {
        string_data
            .get(k)
            .and_then(Value::as_str)
            .map(|s| s.as_bytes().to_vec())
            .or_else(|| data.get(k).and_then(decoded))
    };
    match se(obj, "type") {
        "kubernetes.io/service-account-token" => {
            let ann = map_of(get(obj, "metadata"), "annotations");
            if ann
                .get("kubernetes.io/service-account.name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                errs.push(required(
                    "metadata.annotations[kubernetes.io/service-account.name]",
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" => errs.extend(docker_key(".dockercfg", has_key, content)),
        "kubernetes.io/dockerconfigjson" => {
            errs.extend(docker_key(".dockerconfigjson", has_key, content))
        }
        "kubernetes.io/basic-auth" if !has_key("username") && !has_key("password") => {
            for k in ["username", "password"] {
                errs.push(required(
                    format!("data[{k}]"),
                    "either username or password is required",
                ));
            }
        }
        "kubernetes.io/ssh-auth" if content("ssh-privatekey").is_none_or(|b| b.is_empty()) => {
            errs.push(required("data[ssh-privatekey]", ""));
        }
        "kubernetes.io/tls" => {
            for k in ["tls.key", "tls.crt"] {
                if !has_key(k) {
                    errs.push(required(format!("data[{k}]"), ""));
                }
            }
        }
        _ => {}
    }
    if let Some(old) = old {
        immutable(obj, old, "type", "", &mut errs);
        errs.extend(immutable_rules(obj, old, &["data"]));
    }
    errs
}

fn docker_key(
    k: &str,
    has_key: impl Fn(&str) -> bool,
    content: impl Fn(&str) -> Option<Vec<u8>>,
) -> Errs {
    let path = format!("data[{k}]");
    if !has_key(k) {
        return vec![required(path, "")];
    }
    match content(k).map(|b| serde_json::from_slice::<Value>(&b)) {
        Some(Ok(_)) => Vec::new(),
        Some(Err(e)) => vec![invalid(path, "<secret contents redacted>", e.to_string())],
        None => vec![invalid(
            path,
            "<secret contents redacted>",
            "illegal base64 data",
        )],
    }
}

/// Validates a ServiceAccount (only its metadata has rules).
pub fn validate_service_account(_obj: &Value, _old: Option<&Value>) -> Errs {
    Errs::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn msgs(e: Errs) -> Vec<String> {
        e.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn config_map_keys_and_immutable() {
        let cm = json!({"data": {"a/b": "x", "ok": "y"}});
        assert_eq!(
            msgs(validate_config_map(&cm, None)),
            vec![
                "data[a/b]: Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
            ]
        );
        let old = json!({"immutable": true, "data": {"a": "1"}});
        let new = json!({"immutable": true, "data": {"a": "2"}});
        assert_eq!(
            msgs(validate_config_map(&new, Some(&old))),
            vec!["data: Forbidden: field is immutable when `immutable` is set"]
        );
    }

    #[test]
    fn secret_types() {
        let s = json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "YQ=="}});
        assert_eq!(
            msgs(validate_secret(&s, None)),
            vec!["data[tls.key]: Required value"]
        );
        let s = json!({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "e30="}});
        assert!(validate_secret(&s, None).is_empty());
        let old = json!({"type": "Opaque"});
        let new = json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
        assert_eq!(
            msgs(validate_secret(&new, Some(&old))),
            vec!["type: Invalid value: \"kubernetes.io/tls\": field is immutable"]
        );
    }
}
