//! JSON objects to protobuf message bytes, driven by the schema table.

use serde_json::{Map, Value};

use crate::ProtobufError;
use crate::decode::{MAX_DEPTH, short_name};
use crate::schema::{self, Field, FieldType, Schema};
use crate::special;
use crate::wire::{self, FIXED64, VARINT};

/// Encodes the JSON object of message `name`. Properties the message does not have
/// (such as `apiVersion`/`kind` at the top) are ignored; `null` means unset.
pub fn json_to_message(
    schema: &Schema,
    name: &str,
    obj: &Map<String, Value>,
    depth: usize,
) -> Result<Vec<u8>, ProtobufError> {
    if depth > MAX_DEPTH {
        return Err(ProtobufError::TooDeep);
    }
    let message = schema::message(schema, name)?;
    let short = short_name(name);
    let mut out = Vec::new();
    for field in &message.fields {
        let label = format!("{short}.{}", field.json);
        if field.inline {
            if let FieldType::Message(inner) = &field.ty {
                let bytes = json_to_message(schema, inner, obj, depth + 1)?;
                wire::put_bytes(&mut out, field.tag, &bytes);
            }
            continue;
        }
        let Some(value) = obj.get(&field.json) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        match &field.ty {
            FieldType::MapString | FieldType::MapBytes | FieldType::MapMessage(_) => {
                let map = value
                    .as_object()
                    .ok_or_else(|| json_type(&label, "an object"))?;
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                for key in keys {
                    let mut entry = Vec::new();
                    wire::put_bytes(&mut entry, 1, key.as_bytes());
                    match (&field.ty, map.get(key.as_str())) {
                        (_, None | Some(Value::Null)) => {}
                        (FieldType::MapString, Some(v)) => {
                            let s = v
                                .as_str()
                                .ok_or_else(|| json_type(&label, "string values"))?;
                            wire::put_bytes(&mut entry, 2, s.as_bytes());
                        }
                        (FieldType::MapBytes, Some(v)) => {
                            let s = v
                                .as_str()
                                .ok_or_else(|| json_type(&label, "base64 string values"))?;
                            wire::put_bytes(&mut entry, 2, &special::base64_decode(s, &label)?);
                        }
                        (FieldType::MapMessage(inner), Some(v)) => {
                            let bytes = message_bytes(schema, inner, v, &label, depth)?;
                            wire::put_bytes(&mut entry, 2, &bytes);
                        }
                        _ => {}
                    }
                    wire::put_bytes(&mut out, field.tag, &entry);
                }
            }
            _ if field.repeated => {
                let items = value
                    .as_array()
                    .ok_or_else(|| json_type(&label, "an array"))?;
                for item in items {
                    put_single(schema, field, item, &label, &mut out, depth)?;
                }
            }
            _ => put_single(schema, field, value, &label, &mut out, depth)?,
        }
    }
    Ok(out)
}

fn json_type(field: &str, expected: &'static str) -> ProtobufError {
    ProtobufError::JsonType {
        field: field.to_string(),
        expected,
    }
}

fn integer(value: &Value, label: &str) -> Result<i64, ProtobufError> {
    value
        .as_i64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                .map(|f| f as i64)
        })
        .ok_or_else(|| json_type(label, "an integer"))
}

fn put_single(
    schema: &Schema,
    field: &Field,
    value: &Value,
    label: &str,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), ProtobufError> {
    match &field.ty {
        FieldType::String => {
            let s = value.as_str().ok_or_else(|| json_type(label, "a string"))?;
            wire::put_bytes(out, field.tag, s.as_bytes());
        }
        FieldType::Int32 => {
            let v = integer(value, label)?;
            let v = i32::try_from(v).map_err(|_| json_type(label, "a 32-bit integer"))?;
            wire::put_int(out, field.tag, i64::from(v));
        }
        FieldType::Int64 => wire::put_int(out, field.tag, integer(value, label)?),
        FieldType::Bool => {
            let b = value.as_bool().ok_or_else(|| json_type(label, "a bool"))?;
            wire::put_key(out, field.tag, VARINT);
            out.push(u8::from(b));
        }
        FieldType::Double => {
            let f = value.as_f64().ok_or_else(|| json_type(label, "a number"))?;
            wire::put_key(out, field.tag, FIXED64);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        FieldType::Bytes => {
            let s = value
                .as_str()
                .ok_or_else(|| json_type(label, "a base64 string"))?;
            wire::put_bytes(out, field.tag, &special::base64_decode(s, label)?);
        }
        FieldType::Message(name) => {
            let bytes = message_bytes(schema, name, value, label, depth)?;
            wire::put_bytes(out, field.tag, &bytes);
        }
        FieldType::MapString | FieldType::MapBytes | FieldType::MapMessage(_) => {
            return Err(ProtobufError::Schema(format!(
                "{label}: map in scalar position"
            )));
        }
    }
    Ok(())
}

/// The bytes of a message-typed value: special form or object.
fn message_bytes(
    schema: &Schema,
    name: &str,
    value: &Value,
    label: &str,
    depth: usize,
) -> Result<Vec<u8>, ProtobufError> {
    if let Some(kind) = special::special(name) {
        let message = schema::message(schema, name)?;
        let inner = message.fields.iter().find_map(|f| match &f.ty {
            FieldType::Message(n) => Some(n.clone()),
            _ => None,
        });
        let mut generic = |obj: &Map<String, Value>| -> Result<Vec<u8>, ProtobufError> {
            match &inner {
                Some(n) => json_to_message(schema, n, obj, depth + 1),
                None => Err(ProtobufError::Schema(format!("{name}: no message member"))),
            }
        };
        return special::encode(kind, value, label, &mut generic);
    }
    let obj = value
        .as_object()
        .ok_or_else(|| json_type(label, "an object"))?;
    json_to_message(schema, name, obj, depth + 1)
}
