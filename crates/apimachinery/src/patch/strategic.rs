//! Strategic merge patch: maps merge, lists merge by key or are replaced, per the type's metadata.

mod directives;
mod order;

use serde_json::{Map, Value};

use super::PatchError;
use super::schema::PatchMeta;
use directives::{
    DELETE_PRIMITIVE_PREFIX, DIRECTIVE, apply_retain_keys, discard_nulls, extract_key,
    remove_directives,
};
use order::{normalize_element_order, partition_by_presence};

/// Applies `patch` to `original` the way upstream's `StrategicMergeMapPatch` does.
pub(crate) fn strategic_merge(
    original: &Value,
    patch: &Value,
    meta: PatchMeta,
) -> Result<Value, PatchError> {
    let original = match original {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let patch = match patch {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        _ => {
            return Err(PatchError::BadRequest(
                "strategic merge patch format is not supported".to_string(),
            ));
        }
    };
    merge_map(original, patch, meta).map(Value::Object)
}

/// Error for a value of the wrong JSON type, worded as upstream's `ErrBadArgType`.
pub(crate) fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    PatchError::Internal(format!(
        "expected a {expected}, but received a {}",
        go_kind(actual)
    ))
}

/// The Go reflect kind name of a decoded JSON value.
pub(crate) fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "invalid",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

/// Whether two decoded JSON values have the same Go type (all numbers are float64).
fn same_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// Go's `==` on decoded JSON scalars: numbers compare as float64.
pub(crate) fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Merges the patch map into the original map.
pub(crate) fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    meta: PatchMeta,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => {
                patch.remove(DIRECTIVE);
                Ok(patch)
            }
            Some("delete") => Ok(Map::new()),
            _ => Err(bad_patch_type(directive, &patch)),
        };
    }
    apply_retain_keys(&mut original, &mut patch)?;
    merge_set_element_order(&mut original, &mut patch, meta)?;

    for (key, patch_value) in patch {
        let (key, is_delete_list) = if key.starts_with(DELETE_PRIMITIVE_PREFIX) {
            (extract_key(&key, DELETE_PRIMITIVE_PREFIX)?, true)
        } else {
            (key, false)
        };
        if patch_value.is_null() {
            original.remove(&key);
            continue;
        }
        let take_patch = match original.get(&key) {
            None => true,
            Some(ov) => !same_type(ov, &patch_value),
        };
        if take_patch {
            if !is_delete_list {
                let mut v = patch_value;
                discard_nulls(&mut v);
                match remove_directives(v) {
                    Some(v) => {
                        original.insert(key, v);
                    }
                    None => {
                        original.remove(&key);
                    }
                }
            }
            continue;
        }
        let field = meta.field(&key);
        let child = meta.child(&key);
        let Some(slot) = original.get_mut(&key) else {
            continue;
        };
        match (slot.take(), patch_value) {
            (Value::Object(om), Value::Object(pm)) => {
                *slot = if field.replace {
                    Value::Object(pm)
                } else {
                    Value::Object(merge_map(om, pm, child)?)
                };
            }
            (Value::Array(ol), Value::Array(pl)) => {
                *slot = Value::Array(merge_slice_handler(
                    ol,
                    pl,
                    child,
                    field.merge,
                    field.merge_key.as_deref().unwrap_or(""),
                    is_delete_list,
                )?);
            }
            (_, pv) => match remove_directives(pv) {
                Some(v) => *slot = v,
                None => {
                    original.remove(&key);
                }
            },
        }
    }
    Ok(original)
}

/// Upstream's `ErrBadPatchType`.
pub(crate) fn bad_patch_type(directive: &Value, map: &Map<String, Value>) -> PatchError {
    let d = directive
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| directive.to_string());
    PatchError::Internal(format!(
        "unknown patch type: {d} in map: {}",
        Value::Object(map.clone())
    ))
}

/// Merges a list whose field strategy is `merge`; any other list is replaced by the patch.
fn merge_slice_handler(
    original: Vec<Value>,
    patch: Vec<Value>,
    elem: PatchMeta,
    merge: bool,
    merge_key: &str,
    is_delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if merge {
        merge_slice(original, patch, elem, merge_key, is_delete_list)
    } else {
        Ok(patch)
    }
}

/// The kind shared by every element of the given lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ElemKind {
    Map,
    Scalar,
}

/// Upstream's `sliceElementType`: all elements of all lists must share one type, not a list.
pub(crate) fn slice_element_kind(lists: &[&[Value]]) -> Result<Option<ElemKind>, PatchError> {
    let mut prev: Option<&Value> = None;
    for list in lists {
        for v in *list {
            match prev {
                None => {
                    if v.is_array() {
                        return Err(PatchError::unprocessable(
                            "lists of lists are not supported",
                        ));
                    }
                    prev = Some(v);
                }
                Some(p) => {
                    if !same_type(p, v) {
                        return Err(PatchError::Internal(format!(
                            "list element types are not identical: {}",
                            lists
                                .iter()
                                .map(|l| Value::Array(l.to_vec()).to_string())
                                .collect::<Vec<_>>()
                                .join(" ")
                        )));
                    }
                }
            }
        }
    }
    Ok(prev.map(|v| {
        if v.is_object() {
            ElemKind::Map
        } else {
            ElemKind::Scalar
        }
    }))
}

/// Merges two lists with the `merge` strategy.
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    elem: PatchMeta,
    merge_key: &str,
    is_delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    let Some(kind) = slice_element_kind(&[&original, &patch])? else {
        return Ok(original);
    };
    let (original, patch, merged) = if kind == ElemKind::Scalar {
        if is_delete_list {
            return Ok(original
                .into_iter()
                .filter(|v| !patch.iter().any(|d| scalar_eq(v, d)))
                .collect());
        }
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for v in original.iter().chain(patch.iter()) {
            if !merged.iter().any(|m| scalar_eq(m, v)) {
                merged.push(v.clone());
            }
        }
        (original, patch, merged)
    } else {
        if merge_key.is_empty() {
            return Err(PatchError::Internal(
                "cannot merge lists without merge key for type slice".to_string(),
            ));
        }
        let (original, patch) = merge_special_elements(original, patch, merge_key)?;
        let merged = merge_plain_elements(original.clone(), &patch, merge_key, elem)?;
        (original, patch, merged)
    };
    let key = (kind == ElemKind::Map).then_some(merge_key);
    let (patch_items, server_only) = partition_by_presence(merged, &patch, key)?;
    normalize_element_order(patch_items, server_only, &patch, &original, key)
}

/// Applies `$patch: delete|replace` list elements; returns the original and remaining patch.
fn merge_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for v in patch {
        let Value::Object(m) = &v else {
            return Err(bad_arg_type("map", &v));
        };
        let Some(directive) = m.get(DIRECTIVE) else {
            plain.push(v);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let Some(key_value) = m.get(merge_key) else {
                    return Err(no_merge_key(m, merge_key));
                };
                original.retain(|o| !o.get(merge_key).is_some_and(|ov| scalar_eq(ov, key_value)));
            }
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(PatchError::Internal(
                    "merging lists cannot yet be specified in the patch".to_string(),
                ));
            }
            _ => return Err(bad_patch_type(directive, m)),
        }
    }
    if replace {
        Ok((plain, Vec::new()))
    } else {
        Ok((original, plain))
    }
}

/// Upstream's `ErrNoMergeKey`.
pub(crate) fn no_merge_key(m: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::Internal(format!(
        "map: {} does not contain declared merge key: {key}",
        Value::Object(m.clone())
    ))
}

/// Merges each patch element into the original element with the same merge key, or appends it.
fn merge_plain_elements(
    mut original: Vec<Value>,
    patch: &[Value],
    merge_key: &str,
    elem: PatchMeta,
) -> Result<Vec<Value>, PatchError> {
    for v in patch {
        let Value::Object(pm) = v else {
            return Err(bad_arg_type("map", v));
        };
        let Some(key_value) = pm.get(merge_key) else {
            return Err(no_merge_key(pm, merge_key));
        };
        let found = original
            .iter()
            .position(|o| o.get(merge_key).is_some_and(|ov| scalar_eq(ov, key_value)));
        match found {
            Some(i) => {
                let om = match original[i].take() {
                    Value::Object(om) => om,
                    _ => Map::new(),
                };
                original[i] = Value::Object(merge_map(om, pm.clone(), elem)?);
            }
            None => original.push(v.clone()),
        }
    }
    Ok(original)
}

/// Processes every `$setElementOrder/<field>` directive together with its list.
fn merge_set_element_order(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    meta: PatchMeta,
) -> Result<(), PatchError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(order::SET_ELEMENT_ORDER_PREFIX))
        .cloned()
        .collect();
    for directive_key in keys {
        let Some(order_value) = patch.remove(&directive_key) else {
            continue;
        };
        let Value::Array(order_list) = order_value else {
            return Err(bad_arg_type("slice", &order_value));
        };
        let key = extract_key(&directive_key, order::SET_ELEMENT_ORDER_PREFIX)?;
        let original_list = match original.get(&key) {
            Some(Value::Array(l)) => Some(l.clone()),
            Some(other) => return Err(bad_arg_type("slice", other)),
            None => None,
        };
        let patch_list = match patch.get(&key) {
            Some(Value::Array(l)) => Some(l.clone()),
            Some(other) => return Err(bad_arg_type("slice", other)),
            None => None,
        };
        let field = meta.field(&key);
        let merge_key = field.merge_key.as_deref().unwrap_or("");
        order::validate_with_order_list(
            patch_list.as_deref().unwrap_or(&[]),
            &order_list,
            merge_key,
        )?;
        let merged = match (original_list.clone(), patch_list.clone()) {
            (Some(o), None) => o,
            (None, Some(p)) => p,
            (Some(o), Some(p)) => {
                merge_slice_handler(o, p, meta.child(&key), field.merge, merge_key, false)?
            }
            (None, None) => continue,
        };
        let orig = original_list.unwrap_or_default();
        let pl = patch_list.unwrap_or_default();
        let key_opt = (!merge_key.is_empty()).then_some(merge_key);
        let (patch_items, server_only) = partition_by_presence(merged, &order_list, key_opt)?;
        let key_for_kind = match slice_element_kind(&[&orig, &pl])? {
            Some(ElemKind::Map) => key_opt,
            Some(ElemKind::Scalar) => None,
            None => {
                return Err(PatchError::Internal(
                    "no elements in any of the given slices".to_string(),
                ));
            }
        };
        let both =
            normalize_element_order(patch_items, server_only, &order_list, &orig, key_for_kind)?;
        original.insert(key.clone(), Value::Array(both));
        patch.remove(&key);
    }
    Ok(())
}
