//! Messages whose JSON form is not an object: Time, MicroTime, Duration, Quantity,
//! IntOrString, RawExtension, FieldsV1, apiextensions JSON and the JSONSchemaProps unions.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::ProtobufError;
use crate::wire::{self, LEN, Reader, VARINT};

/// Decodes a union member (by field number) as an ordinary message.
pub type DecodeMember<'a> = dyn FnMut(u32, &[u8]) -> Result<Value, ProtobufError> + 'a;

/// Encodes a union member object as an ordinary message.
pub type EncodeMember<'a> = dyn FnMut(&Map<String, Value>) -> Result<Vec<u8>, ProtobufError> + 'a;

/// A message with a special JSON form.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Special {
    /// meta/v1 Time: RFC 3339, seconds precision.
    Time,
    /// meta/v1 MicroTime: RFC 3339 with 6 fractional digits.
    MicroTime,
    /// meta/v1 Duration: Go duration string.
    Duration,
    /// resource.Quantity: its string.
    Quantity,
    /// intstr.IntOrString: a number or a string.
    IntOrString,
    /// runtime.RawExtension, meta/v1 FieldsV1, apiextensions JSON: embedded JSON bytes.
    EmbeddedJson,
    /// apiextensions JSONSchemaPropsOrBool: a bool or a schema.
    SchemaOrBool,
    /// apiextensions JSONSchemaPropsOrArray: a schema or an array of schemas.
    SchemaOrArray,
    /// apiextensions JSONSchemaPropsOrStringArray: a schema or an array of strings.
    SchemaOrStringArray,
}

/// Which special form (if any) a message name has.
pub fn special(name: &str) -> Option<Special> {
    Some(match name {
        "k8s.io.apimachinery.pkg.apis.meta.v1.Time" => Special::Time,
        "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime" => Special::MicroTime,
        "k8s.io.apimachinery.pkg.apis.meta.v1.Duration" => Special::Duration,
        "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1"
        | "k8s.io.apimachinery.pkg.runtime.RawExtension" => Special::EmbeddedJson,
        "k8s.io.apimachinery.pkg.api.resource.Quantity" => Special::Quantity,
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString" => Special::IntOrString,
        _ => {
            let (package, short) = name.rsplit_once('.')?;
            if !package.starts_with("k8s.io.apiextensions_apiserver.") {
                return None;
            }
            match short.to_ascii_lowercase().as_str() {
                "json" => Special::EmbeddedJson,
                "jsonschemapropsorbool" => Special::SchemaOrBool,
                "jsonschemapropsorarray" => Special::SchemaOrArray,
                "jsonschemapropsorstringarray" => Special::SchemaOrStringArray,
                _ => return None,
            }
        }
    })
}

/// Scalar fields of a small special message, by tag (last one wins).
#[derive(Default)]
struct Fields<'a> {
    varints: Vec<(u32, u64)>,
    bytes: Vec<(u32, &'a [u8])>,
    any: bool,
}

impl<'a> Fields<'a> {
    fn read(data: &'a [u8]) -> Result<Self, ProtobufError> {
        let mut out = Fields::default();
        let mut r = Reader::new(data);
        while !r.is_empty() {
            let (tag, wt) = r.key()?;
            out.any = true;
            match wt {
                VARINT => out.varints.push((tag, r.varint()?)),
                LEN => out.bytes.push((tag, r.bytes()?)),
                other => r.skip(other)?,
            }
        }
        Ok(out)
    }

    fn varint(&self, tag: u32) -> u64 {
        self.varints
            .iter()
            .rev()
            .find(|(t, _)| *t == tag)
            .map_or(0, |(_, v)| *v)
    }

    fn bytes(&self, tag: u32) -> &'a [u8] {
        self.bytes
            .iter()
            .rev()
            .find(|(t, _)| *t == tag)
            .map_or(&[][..], |(_, v)| *v)
    }

    fn string(&self, tag: u32, field: &str) -> Result<String, ProtobufError> {
        std::str::from_utf8(self.bytes(tag))
            .map(str::to_string)
            .map_err(|_| ProtobufError::Utf8 {
                field: field.to_string(),
            })
    }
}

fn utc(seconds: i64, nanos: i32, field: &str) -> Result<jiff::Timestamp, ProtobufError> {
    jiff::Timestamp::new(seconds, nanos).map_err(|_| ProtobufError::Time {
        field: field.to_string(),
        value: format!("{seconds}s {nanos}ns"),
    })
}

/// Decodes a special message's bytes into JSON; `None` means "leave the field out".
///
/// `generic` decodes a union member as an ordinary message (used by the schema unions).
pub fn decode(
    kind: Special,
    data: &[u8],
    field: &str,
    depth: usize,
    generic: &mut DecodeMember<'_>,
) -> Result<Option<Value>, ProtobufError> {
    let f = Fields::read(data)?;
    Ok(match kind {
        Special::Time | Special::MicroTime => {
            if !f.any {
                return Ok(None);
            }
            let ts = utc(f.varint(1) as i64, f.varint(2) as i64 as i32, field)?;
            let base = ts.strftime("%Y-%m-%dT%H:%M:%S").to_string();
            Some(Value::String(if kind == Special::Time {
                format!("{base}Z")
            } else {
                format!("{base}.{:06}Z", ts.subsec_microsecond())
            }))
        }
        Special::Duration => Some(Value::String(crate::duration::format(f.varint(1) as i64))),
        Special::Quantity => {
            let s = f.string(1, field)?;
            Some(Value::String(if s.is_empty() {
                "0".to_string()
            } else {
                s
            }))
        }
        Special::IntOrString => Some(if f.varint(1) == 1 {
            Value::String(f.string(3, field)?)
        } else {
            Value::from(f.varint(2) as i64 as i32)
        }),
        Special::EmbeddedJson => embedded(f.bytes(1), field, depth)?,
        Special::SchemaOrBool => Some(if f.bytes.iter().any(|(t, _)| *t == 2) {
            generic(2, f.bytes(2))?
        } else {
            Value::Bool(f.varint(1) != 0)
        }),
        Special::SchemaOrArray => {
            let items: Vec<&[u8]> = f
                .bytes
                .iter()
                .filter(|(t, _)| *t == 2)
                .map(|(_, b)| *b)
                .collect();
            if items.is_empty() {
                Some(generic(1, f.bytes(1))?)
            } else {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(generic(2, item)?);
                }
                Some(Value::Array(out))
            }
        }
        Special::SchemaOrStringArray => {
            let items: Vec<&[u8]> = f
                .bytes
                .iter()
                .filter(|(t, _)| *t == 2)
                .map(|(_, b)| *b)
                .collect();
            if items.is_empty() {
                Some(generic(1, f.bytes(1))?)
            } else {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let s = std::str::from_utf8(item).map_err(|_| ProtobufError::Utf8 {
                        field: field.to_string(),
                    })?;
                    out.push(Value::String(s.to_string()));
                }
                Some(Value::Array(out))
            }
        }
    })
}

/// Embedded JSON bytes (or an embedded protobuf envelope) as a JSON value.
fn embedded(raw: &[u8], field: &str, depth: usize) -> Result<Option<Value>, ProtobufError> {
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.starts_with(&crate::MAGIC) {
        return crate::decode_envelope(raw, depth + 1).map(Some);
    }
    serde_json::from_slice(raw)
        .map(Some)
        .map_err(|source| ProtobufError::EmbeddedJson {
            field: field.to_string(),
            source,
        })
}

fn json_type(field: &str, expected: &'static str) -> ProtobufError {
    ProtobufError::JsonType {
        field: field.to_string(),
        expected,
    }
}

/// Encodes a JSON value as a special message's bytes.
///
/// `generic` encodes a union member as an ordinary message.
pub fn encode(
    kind: Special,
    value: &Value,
    field: &str,
    generic: &mut EncodeMember<'_>,
) -> Result<Vec<u8>, ProtobufError> {
    let mut out = Vec::new();
    match kind {
        Special::Time | Special::MicroTime => {
            let text = value
                .as_str()
                .ok_or_else(|| json_type(field, "an RFC 3339 time string"))?;
            let ts: jiff::Timestamp = text.parse().map_err(|_| ProtobufError::Time {
                field: field.to_string(),
                value: text.to_string(),
            })?;
            let mut seconds = ts.as_second();
            let mut nanos = ts.subsec_nanosecond();
            if nanos < 0 {
                seconds -= 1;
                nanos += 1_000_000_000;
            }
            wire::put_int(&mut out, 1, seconds);
            if nanos != 0 {
                wire::put_int(&mut out, 2, i64::from(nanos));
            }
        }
        Special::Duration => {
            let text = value
                .as_str()
                .ok_or_else(|| json_type(field, "a duration string"))?;
            let nanos = crate::duration::parse(text).ok_or_else(|| ProtobufError::Duration {
                field: field.to_string(),
                value: text.to_string(),
            })?;
            wire::put_int(&mut out, 1, nanos);
        }
        Special::Quantity => {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(json_type(field, "a quantity string or number")),
            };
            wire::put_bytes(&mut out, 1, text.as_bytes());
        }
        Special::IntOrString => match value {
            Value::String(s) => {
                wire::put_int(&mut out, 1, 1);
                wire::put_int(&mut out, 2, 0);
                wire::put_bytes(&mut out, 3, s.as_bytes());
            }
            Value::Number(n) => {
                let v = n
                    .as_i64()
                    .and_then(|v| i32::try_from(v).ok())
                    .ok_or_else(|| json_type(field, "a 32-bit integer or a string"))?;
                wire::put_int(&mut out, 1, 0);
                wire::put_int(&mut out, 2, i64::from(v));
                wire::put_bytes(&mut out, 3, b"");
            }
            _ => return Err(json_type(field, "an integer or a string")),
        },
        Special::EmbeddedJson => {
            let raw = serde_json::to_vec(value).map_err(|source| ProtobufError::EmbeddedJson {
                field: field.to_string(),
                source,
            })?;
            wire::put_bytes(&mut out, 1, &raw);
        }
        Special::SchemaOrBool => match value {
            Value::Bool(b) => wire::put_int(&mut out, 1, i64::from(*b)),
            Value::Object(obj) => {
                wire::put_int(&mut out, 1, 1);
                wire::put_bytes(&mut out, 2, &generic(obj)?);
            }
            _ => return Err(json_type(field, "a bool or a schema object")),
        },
        Special::SchemaOrArray => match value {
            Value::Object(obj) => wire::put_bytes(&mut out, 1, &generic(obj)?),
            Value::Array(items) => {
                for item in items {
                    let obj = item
                        .as_object()
                        .ok_or_else(|| json_type(field, "schema objects"))?;
                    wire::put_bytes(&mut out, 2, &generic(obj)?);
                }
            }
            _ => return Err(json_type(field, "a schema object or an array of them")),
        },
        Special::SchemaOrStringArray => match value {
            Value::Object(obj) => wire::put_bytes(&mut out, 1, &generic(obj)?),
            Value::Array(items) => {
                for item in items {
                    let s = item.as_str().ok_or_else(|| json_type(field, "strings"))?;
                    wire::put_bytes(&mut out, 2, s.as_bytes());
                }
            }
            _ => return Err(json_type(field, "a schema object or an array of strings")),
        },
    }
    Ok(out)
}

/// Base64 as Kubernetes JSON writes `[]byte` (standard alphabet, padded).
pub fn base64_encode(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Parses a JSON `[]byte` string.
pub fn base64_decode(text: &str, field: &str) -> Result<Vec<u8>, ProtobufError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| ProtobufError::Base64 {
            field: field.to_string(),
        })
}
