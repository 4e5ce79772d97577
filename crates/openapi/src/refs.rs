//! Walks `$ref`s in JSON schemas: collects them, follows them, rewrites their prefix.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::schemas::Defs;

/// The `$ref` prefix of definitions while they are built (swagger 2.0 style).
pub(crate) const DEFINITIONS: &str = "#/definitions/";
/// The `$ref` prefix of OpenAPI v3 component schemas.
pub(crate) const COMPONENTS: &str = "#/components/schemas/";

/// Calls `f` with every `$ref` string inside `value`.
pub(crate) fn for_each_ref(value: &Value, f: &mut impl FnMut(&str)) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(s)) => f(s),
                    _ => for_each_ref(v, f),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| for_each_ref(v, f)),
        _ => {}
    }
}

/// Names of the definitions referenced (with `prefix`) from `roots`, and transitively from those.
pub(crate) fn closure(defs: &Defs, roots: &[&Value], prefix: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut queue: Vec<String> = Vec::new();
    let push = |s: &str, queue: &mut Vec<String>| {
        if let Some(name) = s.strip_prefix(prefix) {
            queue.push(name.to_string());
        }
    };
    for root in roots {
        for_each_ref(root, &mut |s| push(s, &mut queue));
    }
    while let Some(name) = queue.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(def) = defs.get(&name) {
            for_each_ref(def, &mut |s| push(s, &mut queue));
        }
    }
    seen
}

/// Replaces the prefix `from` of every `$ref` inside `value` with `to`.
pub(crate) fn rewrite(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "$ref" {
                    if let Value::String(s) = v
                        && let Some(rest) = s.strip_prefix(from)
                    {
                        *s = format!("{to}{rest}");
                    }
                } else {
                    rewrite(v, from, to);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite(v, from, to)),
        _ => {}
    }
}

/// Turns every `{"$ref": X, "description": …}` into `{"allOf": [{"$ref": X}], "description": …}`,
/// as upstream's v3 documents spell a reference with siblings (kubectl explain then prints the
/// field's description as well as the referenced type's).
pub(crate) fn wrap_in_all_of(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.len() > 1
                && let Some(reference) = map.remove("$ref")
            {
                let mut inner = serde_json::Map::new();
                inner.insert("$ref".into(), reference);
                map.insert("allOf".into(), Value::Array(vec![Value::Object(inner)]));
            }
            map.values_mut().for_each(wrap_in_all_of);
        }
        Value::Array(items) => items.iter_mut().for_each(wrap_in_all_of),
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn closure_follows_refs_transitively() {
        let mut defs = Defs::new();
        defs.insert(
            "a".into(),
            json!({"properties": {"b": {"$ref": "#/definitions/b"}}}),
        );
        defs.insert("b".into(), json!({"items": {"$ref": "#/definitions/c"}}));
        defs.insert("c".into(), json!({"type": "string"}));
        defs.insert("d".into(), json!({"type": "string"}));
        let root = json!({"schema": {"$ref": "#/definitions/a"}});
        let names: Vec<_> = closure(&defs, &[&root], DEFINITIONS).into_iter().collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn refs_with_siblings_move_into_all_of() {
        let mut v = json!({"p": {"$ref": "#/x", "description": "d"}, "q": {"$ref": "#/y"}});
        wrap_in_all_of(&mut v);
        assert_eq!(
            v,
            json!({"p": {"allOf": [{"$ref": "#/x"}], "description": "d"}, "q": {"$ref": "#/y"}})
        );
    }

    #[test]
    fn rewrite_changes_prefix() {
        let mut v = json!({"a": [{"$ref": "#/definitions/x"}], "$ref": "#/definitions/y"});
        rewrite(&mut v, DEFINITIONS, COMPONENTS);
        assert_eq!(
            v,
            json!({"a": [{"$ref": "#/components/schemas/x"}], "$ref": "#/components/schemas/y"})
        );
    }
}
