//! Kubernetes protobuf (`application/vnd.kubernetes.protobuf`) to and from the JSON form of objects.
//!
//! kubectl's typed clients send request bodies as protobuf: the magic bytes `k8s\0`
//! followed by a `runtime.Unknown` message whose `typeMeta` names the apiVersion/kind and
//! whose `raw` holds the object's own message. [`decode_to_json`] turns such a body into
//! the standard Kubernetes JSON shape and [`encode_from_json`] does the reverse.
//!
//! The message layouts come from a generated table (`data/schema.json`, regenerate with
//! `python3 crates/protobuf/tools/gen_schema.py`). Unknown field numbers are skipped.
//!
//! Empty values: see the [`omit`] module for the exact rules the decoder applies to
//! values Go's protobuf encoder always writes but JSON leaves out.

mod decode;
mod duration;
mod encode;
mod error;
mod kinds;
pub mod omit;
mod schema;
mod special;
mod wire;

use serde_json::{Map, Value};

pub use error::ProtobufError;

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: [u8; 4] = *b"k8s\0";

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The proto message name for an apiVersion/kind (`v1`, `Pod` → `k8s.io.api.core.v1.Pod`),
/// if the schema table knows one.
pub fn message_name(api_version: &str, kind: &str) -> Option<&'static str> {
    let schema = schema::schema().ok()?;
    kinds::message_for(schema, api_version, kind)
}

/// Decodes a Kubernetes protobuf request body (the `k8s\0` envelope + runtime.Unknown) into the JSON form of the object.
///
/// The result carries `apiVersion` and `kind` from the envelope's typeMeta.
pub fn decode_to_json(body: &[u8]) -> Result<Value, ProtobufError> {
    decode_envelope(body, 0)
}

/// [`decode_to_json`] at a nesting depth (envelopes can nest inside RawExtensions).
fn decode_envelope(body: &[u8], depth: usize) -> Result<Value, ProtobufError> {
    if depth > decode::MAX_DEPTH {
        return Err(ProtobufError::TooDeep);
    }
    let rest = body
        .strip_prefix(&MAGIC[..])
        .ok_or(ProtobufError::MissingMagic)?;
    let envelope = Envelope::read(rest)?;
    if !envelope.content_encoding.is_empty() {
        return Err(ProtobufError::ContentEncoding(envelope.content_encoding));
    }
    if envelope.kind.is_empty() {
        return Err(ProtobufError::MissingKind);
    }
    let schema = schema::schema()?;
    let name =
        kinds::message_for(schema, &envelope.api_version, &envelope.kind).ok_or_else(|| {
            ProtobufError::UnknownKind {
                api_version: envelope.api_version.clone(),
                kind: envelope.kind.clone(),
            }
        })?;
    let body = decode::message_to_json(schema, name, envelope.raw, depth)?;
    let mut obj = Map::new();
    if !envelope.api_version.is_empty() {
        obj.insert("apiVersion".into(), Value::String(envelope.api_version));
    }
    obj.insert("kind".into(), Value::String(envelope.kind));
    obj.extend(body);
    Ok(Value::Object(obj))
}

/// Encodes a JSON object (with apiVersion/kind) as a Kubernetes protobuf envelope (for responses).
///
/// Properties the object's message does not have are ignored; `null` means unset.
pub fn encode_from_json(obj: &Value) -> Result<Vec<u8>, ProtobufError> {
    let map = obj.as_object().ok_or_else(|| ProtobufError::JsonType {
        field: "(root)".into(),
        expected: "an object",
    })?;
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or(ProtobufError::MissingKind)?;
    let schema = schema::schema()?;
    let name = kinds::message_for(schema, api_version, kind).ok_or_else(|| {
        ProtobufError::UnknownKind {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
        }
    })?;
    let raw = encode::json_to_message(schema, name, map, 0)?;

    let mut type_meta = Vec::new();
    wire::put_bytes(&mut type_meta, 1, api_version.as_bytes());
    wire::put_bytes(&mut type_meta, 2, kind.as_bytes());
    let mut out = MAGIC.to_vec();
    wire::put_bytes(&mut out, 1, &type_meta);
    wire::put_bytes(&mut out, 2, &raw);
    wire::put_bytes(&mut out, 3, b"");
    wire::put_bytes(&mut out, 4, b"");
    Ok(out)
}

/// The fields of a runtime.Unknown envelope.
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
}

impl<'a> Envelope<'a> {
    fn read(data: &'a [u8]) -> Result<Self, ProtobufError> {
        let mut env = Envelope {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
            content_encoding: String::new(),
        };
        let text = |b: &[u8], field: &str| {
            std::str::from_utf8(b)
                .map(str::to_string)
                .map_err(|_| ProtobufError::Utf8 {
                    field: field.into(),
                })
        };
        let mut r = wire::Reader::new(data);
        while !r.is_empty() {
            let (tag, wt) = r.key()?;
            match (tag, wt) {
                (1, wire::LEN) => {
                    let mut tm = wire::Reader::new(r.bytes()?);
                    while !tm.is_empty() {
                        match tm.key()? {
                            (1, wire::LEN) => {
                                env.api_version = text(tm.bytes()?, "typeMeta.apiVersion")?
                            }
                            (2, wire::LEN) => env.kind = text(tm.bytes()?, "typeMeta.kind")?,
                            (_, other) => tm.skip(other)?,
                        }
                    }
                }
                (2, wire::LEN) => env.raw = r.bytes()?,
                (3, wire::LEN) => env.content_encoding = text(r.bytes()?, "contentEncoding")?,
                (_, other) => r.skip(other)?,
            }
        }
        Ok(env)
    }
}
