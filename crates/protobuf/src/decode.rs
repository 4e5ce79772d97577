//! Protobuf message bytes to the JSON object of the same message, driven by the schema table.

use serde_json::{Map, Value};

use crate::ProtobufError;
use crate::omit;
use crate::schema::{self, Field, FieldType, Schema};
use crate::special::{self, Special};
use crate::wire::{FIXED64, LEN, Reader, VARINT};

/// How deep messages may nest before decoding gives up.
pub const MAX_DEPTH: usize = 100;

/// The last segment of a full message name (`k8s.io.api.core.v1.Pod` → `Pod`).
pub fn short_name(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// Decodes the bytes of message `name` into its JSON object.
pub fn message_to_json(
    schema: &Schema,
    name: &str,
    bytes: &[u8],
    depth: usize,
) -> Result<Map<String, Value>, ProtobufError> {
    if depth > MAX_DEPTH {
        return Err(ProtobufError::TooDeep);
    }
    let message = schema::message(schema, name)?;
    let short = short_name(name);
    let mut out = Map::new();
    let mut r = Reader::new(bytes);
    while !r.is_empty() {
        let (tag, wt) = r.key()?;
        let Some(field) = message.field(tag) else {
            r.skip(wt)?;
            continue;
        };
        let label = || format!("{short}.{}", field.json);
        match &field.ty {
            FieldType::MapString | FieldType::MapBytes | FieldType::MapMessage(_) => {
                expect(wt, LEN, &label)?;
                let (key, value) = map_entry(schema, field, r.bytes()?, &label, depth)?;
                if let Value::Object(map) = out
                    .entry(field.json.clone())
                    .or_insert_with(|| Value::Object(Map::new()))
                {
                    map.insert(key, value);
                }
            }
            ty if field.repeated => {
                let mut items = Vec::new();
                if wt == LEN
                    && matches!(
                        ty,
                        FieldType::Int32 | FieldType::Int64 | FieldType::Bool | FieldType::Double
                    )
                {
                    let mut packed = Reader::new(r.bytes()?);
                    while !packed.is_empty() {
                        let inner = if *ty == FieldType::Double {
                            FIXED64
                        } else {
                            VARINT
                        };
                        items.push(
                            single(schema, field, inner, &mut packed, &label, depth)?
                                .unwrap_or(Value::Null),
                        );
                    }
                } else {
                    items.push(
                        single(schema, field, wt, &mut r, &label, depth)?.unwrap_or(Value::Null),
                    );
                }
                if let Value::Array(list) = out
                    .entry(field.json.clone())
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    list.extend(items);
                }
            }
            FieldType::Message(inner) if field.inline => {
                expect(wt, LEN, &label)?;
                out.extend(message_to_json(schema, inner, r.bytes()?, depth + 1)?);
            }
            _ => match single(schema, field, wt, &mut r, &label, depth)? {
                Some(value) => {
                    out.insert(field.json.clone(), value);
                }
                None => {
                    out.remove(&field.json);
                }
            },
        }
    }
    out.retain(|key, value| omit::keep(short, key, value));
    Ok(out)
}

fn expect(wt: u8, want: u8, label: &dyn Fn() -> String) -> Result<(), ProtobufError> {
    if wt == want {
        Ok(())
    } else {
        Err(ProtobufError::WireType {
            field: label(),
            wire_type: wt,
        })
    }
}

fn utf8(bytes: &[u8], label: &dyn Fn() -> String) -> Result<String, ProtobufError> {
    std::str::from_utf8(bytes)
        .map(str::to_string)
        .map_err(|_| ProtobufError::Utf8 { field: label() })
}

/// Decodes one value of a (non-map) field; `None` means "leave the field out".
fn single(
    schema: &Schema,
    field: &Field,
    wt: u8,
    r: &mut Reader<'_>,
    label: &dyn Fn() -> String,
    depth: usize,
) -> Result<Option<Value>, ProtobufError> {
    Ok(Some(match &field.ty {
        FieldType::String => {
            expect(wt, LEN, label)?;
            Value::String(utf8(r.bytes()?, label)?)
        }
        FieldType::Int32 => {
            expect(wt, VARINT, label)?;
            Value::from(r.varint()? as i64 as i32)
        }
        FieldType::Int64 => {
            expect(wt, VARINT, label)?;
            Value::from(r.varint()? as i64)
        }
        FieldType::Bool => {
            expect(wt, VARINT, label)?;
            Value::Bool(r.varint()? != 0)
        }
        FieldType::Double => {
            expect(wt, FIXED64, label)?;
            serde_json::Number::from_f64(f64::from_bits(r.fixed64()?))
                .map_or(Value::Null, Value::Number)
        }
        FieldType::Bytes => {
            expect(wt, LEN, label)?;
            Value::String(special::base64_encode(r.bytes()?))
        }
        FieldType::Message(name) => {
            expect(wt, LEN, label)?;
            return message_value(schema, name, r.bytes()?, label, depth);
        }
        FieldType::MapString | FieldType::MapBytes | FieldType::MapMessage(_) => {
            return Err(ProtobufError::Schema(format!(
                "{}: map in scalar position",
                label()
            )));
        }
    }))
}

/// A message-typed value: its special JSON form, or an object.
fn message_value(
    schema: &Schema,
    name: &str,
    bytes: &[u8],
    label: &dyn Fn() -> String,
    depth: usize,
) -> Result<Option<Value>, ProtobufError> {
    match special::special(name) {
        Some(kind) => decode_special(schema, name, kind, bytes, label, depth),
        None => message_to_json(schema, name, bytes, depth + 1).map(|m| Some(Value::Object(m))),
    }
}

fn decode_special(
    schema: &Schema,
    name: &str,
    kind: Special,
    bytes: &[u8],
    label: &dyn Fn() -> String,
    depth: usize,
) -> Result<Option<Value>, ProtobufError> {
    let message = schema::message(schema, name)?;
    let mut generic = |tag: u32, data: &[u8]| -> Result<Value, ProtobufError> {
        match message.field(tag).map(|f| &f.ty) {
            Some(FieldType::Message(inner)) => {
                message_to_json(schema, inner, data, depth + 1).map(Value::Object)
            }
            _ => Err(ProtobufError::Schema(format!(
                "{name}: field {tag} is not a message"
            ))),
        }
    };
    special::decode(kind, bytes, &label(), depth, &mut generic)
}

/// Decodes one map entry message (key = field 1, value = field 2).
fn map_entry(
    schema: &Schema,
    field: &Field,
    bytes: &[u8],
    label: &dyn Fn() -> String,
    depth: usize,
) -> Result<(String, Value), ProtobufError> {
    let mut key = String::new();
    let mut value: Option<Value> = None;
    let mut r = Reader::new(bytes);
    while !r.is_empty() {
        let (tag, wt) = r.key()?;
        match tag {
            1 => {
                expect(wt, LEN, label)?;
                key = utf8(r.bytes()?, label)?;
            }
            2 => {
                expect(wt, LEN, label)?;
                let data = r.bytes()?;
                value = match &field.ty {
                    FieldType::MapBytes => Some(Value::String(special::base64_encode(data))),
                    FieldType::MapMessage(name) => message_value(schema, name, data, label, depth)?,
                    _ => Some(Value::String(utf8(data, label)?)),
                };
            }
            _ => r.skip(wt)?,
        }
    }
    let value = match value {
        Some(v) => v,
        None => match &field.ty {
            FieldType::MapMessage(name) => {
                message_value(schema, name, &[], label, depth)?.unwrap_or(Value::Null)
            }
            _ => Value::String(String::new()),
        },
    };
    Ok((key, value))
}
