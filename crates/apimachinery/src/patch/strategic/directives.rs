//! The `$patch`, `$retainKeys` and `$deleteFromPrimitiveList` directives of strategic merge patch.

use serde_json::{Map, Value};

use crate::patch::PatchError;

/// The key of the `$patch` directive.
pub(crate) const DIRECTIVE: &str = "$patch";
/// The key of the `$retainKeys` directive.
pub(crate) const RETAIN_KEYS: &str = "$retainKeys";
/// The prefix of a parallel list of primitives to delete.
pub(crate) const DELETE_PRIMITIVE_PREFIX: &str = "$deleteFromPrimitiveList";

pub(crate) const ERR_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
pub(crate) const ERR_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
pub(crate) const ERR_SET_ELEMENT_ORDER: &str = "invalid patch format of setElementOrder list";

/// Strips `prefix/` from a directive key such as `$setElementOrder/containers`.
pub(crate) fn extract_key(key: &str, prefix: &str) -> Result<String, PatchError> {
    match key.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest.to_string()),
        _ => Err(match prefix {
            DELETE_PRIMITIVE_PREFIX => PatchError::BadRequest(ERR_PRIMITIVE_LIST.to_string()),
            super::order::SET_ELEMENT_ORDER_PREFIX => {
                PatchError::BadRequest(ERR_SET_ELEMENT_ORDER.to_string())
            }
            _ => PatchError::Internal(format!("fail to find unknown prefix {prefix:?} in {key}\n")),
        }),
    }
}

/// Applies `$retainKeys`: drops original keys not listed, after checking the patch only
/// sets listed keys.
pub(crate) fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retain) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadRequest(ERR_RETAIN_KEYS.to_string()));
    };
    let listed = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_PRIMITIVE_PREFIX)
            || k.starts_with(super::order::SET_ELEMENT_ORDER_PREFIX)
        {
            continue;
        }
        if !listed(k) {
            return Err(PatchError::BadRequest(ERR_RETAIN_KEYS.to_string()));
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// Removes every `null` member of maps nested anywhere in `v`.
pub(crate) fn discard_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(discard_nulls);
        }
        Value::Array(l) => l.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

/// Drops maps carrying `$patch` from a value taken whole from the patch; `None` if the
/// value itself is such a map.
pub(crate) fn remove_directives(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if m.contains_key(DIRECTIVE) {
                return None;
            }
            Some(Value::Object(
                m.into_iter()
                    .filter_map(|(k, v)| remove_directives(v).map(|v| (k, v)))
                    .collect(),
            ))
        }
        Value::Array(l) => Some(Value::Array(
            l.into_iter().filter_map(remove_directives).collect(),
        )),
        other => Some(other),
    }
}
