//! Element order of merged lists: `$setElementOrder` and upstream's patch-then-server interleaving.

use serde_json::Value;

use super::{DIRECTIVE, bad_arg_type, no_merge_key, scalar_eq};
use crate::patch::PatchError;

/// The prefix of the directive fixing the order of a merged list.
pub(crate) const SET_ELEMENT_ORDER_PREFIX: &str = "$setElementOrder";

/// The value an element is identified by: its merge key for maps, itself otherwise.
fn ident<'a>(v: &'a Value, merge_key: Option<&str>) -> Option<&'a Value> {
    match merge_key {
        Some(k) => v.get(k),
        None => Some(v),
    }
}

/// The position of `v` in `list`, comparing identities.
fn index_of(list: &[Value], v: &Value, merge_key: Option<&str>) -> Option<usize> {
    let id = ident(v, merge_key)?;
    list.iter()
        .position(|x| ident(x, merge_key).is_some_and(|xi| scalar_eq(xi, id)))
}

/// Splits `items` into those present in `by` and those only on the server.
pub(crate) fn partition_by_presence(
    items: Vec<Value>,
    by: &[Value],
    merge_key: Option<&str>,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut present = Vec::new();
    let mut server_only = Vec::new();
    for v in items {
        if let Some(k) = merge_key {
            let Value::Object(m) = &v else {
                return Err(bad_arg_type("map", &v));
            };
            if !m.contains_key(k) {
                return Err(no_merge_key(m, k));
            }
        }
        if index_of(by, &v, merge_key).is_some() {
            present.push(v);
        } else {
            server_only.push(v);
        }
    }
    Ok((present, server_only))
}

/// Sorts `items` by their position in `order`, keeping `$patch: delete` maps last.
fn normalize_slice_order(
    items: Vec<Value>,
    order: &[Value],
    merge_key: Option<&str>,
) -> Result<Vec<Value>, PatchError> {
    let (mut keep, delete): (Vec<Value>, Vec<Value>) = match merge_key {
        Some(k) => {
            for v in items.iter().chain(order.iter()) {
                match v {
                    Value::Object(m) if !m.contains_key(k) => return Err(no_merge_key(m, k)),
                    Value::Object(_) => {}
                    other => return Err(bad_arg_type("map", other)),
                }
            }
            items
                .into_iter()
                .partition(|v| v.get(DIRECTIVE).and_then(Value::as_str) != Some("delete"))
        }
        None => (items, Vec::new()),
    };
    keep.sort_by_key(|v| index_of(order, v, merge_key).unwrap_or(usize::MAX));
    keep.extend(delete);
    Ok(keep)
}

/// Orders patch items by `patch_order` and server-only items by `server_order`, then
/// interleaves them: a server item goes first only when both are on the server and it
/// comes earlier there.
pub(crate) fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: Option<&str>,
) -> Result<Vec<Value>, PatchError> {
    let patch = normalize_slice_order(patch, patch_order, merge_key)?;
    let server_only = normalize_slice_order(server_only, server_order, merge_key)?;
    let mut out = Vec::with_capacity(patch.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = patch.into_iter().peekable();
    loop {
        match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => out.extend(left.next()),
            (None, Some(_)) => out.extend(right.next()),
            (Some(l), Some(r)) => {
                let li = index_of(server_order, l, merge_key);
                let ri = index_of(server_order, r, merge_key);
                let take_left = matches!((li, ri), (Some(a), Some(b)) if a < b);
                if take_left {
                    out.extend(left.next());
                } else {
                    out.extend(right.next());
                }
            }
        }
    }
    Ok(out)
}

/// Checks the patch list's items appear in the same relative order as in `$setElementOrder`.
pub(crate) fn validate_with_order_list(
    patch_list: &[Value],
    order_list: &[Value],
    merge_key: &str,
) -> Result<(), PatchError> {
    if order_list.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let key = (!merge_key.is_empty()).then_some(merge_key);
    let non_delete: Vec<&Value> = match key {
        Some(_) => {
            let mut out = Vec::new();
            for v in patch_list {
                if !v.is_object() {
                    return Err(bad_arg_type("map", v));
                }
                if v.get(DIRECTIVE).and_then(Value::as_str) != Some("delete") {
                    out.push(v);
                }
            }
            out
        }
        None => patch_list.iter().collect(),
    };
    let (mut pi, mut oi) = (0, 0);
    while pi < non_delete.len() && oi < order_list.len() {
        if non_delete[pi].get(DIRECTIVE).is_some() {
            pi += 1;
            continue;
        }
        let equal = match key {
            None => scalar_eq(non_delete[pi], &order_list[oi]),
            Some(k) => {
                let Some(Value::Object(l)) = Some(non_delete[pi]) else {
                    return Err(bad_arg_type("map", non_delete[pi]));
                };
                let Value::Object(r) = &order_list[oi] else {
                    return Err(bad_arg_type("map", &order_list[oi]));
                };
                let lv = l.get(k).ok_or_else(|| no_merge_key(l, k))?;
                let rv = r.get(k).ok_or_else(|| no_merge_key(r, k))?;
                scalar_eq(lv, rv)
            }
        };
        if equal {
            pi += 1;
        }
        oi += 1;
    }
    if pi < non_delete.len() && oi >= order_list.len() {
        return Err(PatchError::Internal(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER_PREFIX} list:\n{}\n",
            Value::Array(patch_list.to_vec()),
            Value::Array(order_list.to_vec())
        )));
    }
    Ok(())
}
