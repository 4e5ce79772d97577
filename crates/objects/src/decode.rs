//! Normalizes an object through its k8s-openapi type and reports the fields it dropped.

use std::fmt::Write as _;

use rkube_api::ResourceInfo;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::error::DecodeError;
use crate::types::{TypeVisitor, with_type};

/// The normalized object and the dotted paths of the unknown fields dropped from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub value: Value,
    pub unknown_fields: Vec<String>,
}

/// Round-trips `obj` through the k8s-openapi type of `info`, like upstream's decoder.
///
/// `null` members are treated as absent (Go leaves such fields at their zero
/// value); `apiVersion` and `kind` of the result are those of `info`.
pub fn decode(info: &ResourceInfo, obj: &Value) -> Result<Decoded, DecodeError> {
    decode_owned(info, obj.clone())
}

/// [`decode`] of an object the caller gives up (saves a copy on every write).
pub fn decode_owned(info: &ResourceInfo, mut input: Value) -> Result<Decoded, DecodeError> {
    strip_nulls(&mut input, info.kind == "ControllerRevision");
    if let Value::Object(m) = &mut input {
        m.insert("apiVersion".into(), Value::String(info.api_version()));
        m.insert("kind".into(), Value::String(info.kind.to_string()));
    }
    let value = roundtrip(info.group, info.version, info.kind, &input)?;
    let mut unknown_fields = Vec::new();
    diff_unknown(&input, &value, &mut String::new(), &mut unknown_fields);
    Ok(Decoded {
        value,
        unknown_fields,
    })
}

/// Deserializes `input` into the type of `group/version/kind` and serializes it back.
pub(crate) fn roundtrip(
    group: &str,
    version: &str,
    kind: &str,
    input: &Value,
) -> Result<Value, DecodeError> {
    struct Rt<'a> {
        input: &'a Value,
        kind: &'a str,
        version: &'a str,
    }
    impl TypeVisitor for Rt<'_> {
        type Output = Result<Value, DecodeError>;
        fn visit<T: DeserializeOwned + Serialize>(self) -> Self::Output {
            // The fast path without path tracking; only a failure is decoded again to
            // name the field.
            let typed = match T::deserialize(self.input) {
                Ok(typed) => typed,
                Err(plain) => {
                    let (path, message) = match serde_path_to_error::deserialize::<_, T>(self.input)
                    {
                        Err(e) => (e.path().to_string(), e.inner().to_string()),
                        Ok(_) => (String::new(), plain.to_string()),
                    };
                    return Err(DecodeError::invalid(
                        self.kind,
                        self.version,
                        &path,
                        &message,
                    ));
                }
            };
            serde_json::to_value(&typed)
                .map_err(|e| DecodeError::invalid(self.kind, self.version, "", &e.to_string()))
        }
    }
    if !input.is_object() {
        return Err(DecodeError::invalid(
            kind,
            version,
            "",
            &format!("expected a JSON object, got {}", type_name(input)),
        ));
    }
    let rt = Rt {
        input,
        kind,
        version,
    };
    with_type(group, version, kind, rt).unwrap_or_else(|| {
        Err(DecodeError::UnknownKind {
            kind: kind.to_string(),
            api_version: if group.is_empty() {
                version.to_string()
            } else {
                format!("{group}/{version}")
            },
        })
    })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Removes `null` members of objects, recursively; the opaque `data` of a
/// ControllerRevision is left as it is.
fn strip_nulls(v: &mut Value, keep_data: bool) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            for (k, x) in m.iter_mut() {
                if keep_data && k == "data" {
                    continue;
                }
                strip_nulls(x, false);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| strip_nulls(x, false)),
        _ => {}
    }
}

/// Records the paths of members of `input` that are missing from `output`.
///
/// `path` is the dotted path so far; it is extended in place while descending and
/// restored on the way back, so a path is only copied out for a missing member.
fn diff_unknown(input: &Value, output: &Value, path: &mut String, out: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(i), Value::Object(o)) => {
            for (k, v) in i {
                let found = o.get(k);
                let descend = found.is_some_and(|w| both_containers(v, w));
                let missing = found.is_none() && !v.is_null();
                if !descend && !missing {
                    continue;
                }
                let len = path.len();
                if len > 0 {
                    path.push('.');
                }
                path.push_str(k);
                match found {
                    Some(w) => diff_unknown(v, w, path, out),
                    None => out.push(path.clone()),
                }
                path.truncate(len);
            }
        }
        (Value::Array(i), Value::Array(o)) => {
            for (n, (a, b)) in i.iter().zip(o).enumerate() {
                if both_containers(a, b) {
                    let len = path.len();
                    // Writing to a String cannot fail.
                    let _ = write!(path, "[{n}]");
                    diff_unknown(a, b, path, out);
                    path.truncate(len);
                }
            }
        }
        _ => {}
    }
}

/// Whether two values are both objects or both arrays (the only pairs worth descending).
fn both_containers(a: &Value, b: &Value) -> bool {
    matches!(
        (a, b),
        (Value::Object(_), Value::Object(_)) | (Value::Array(_), Value::Array(_))
    )
}
