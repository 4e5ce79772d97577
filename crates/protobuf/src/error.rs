//! The error type of the protobuf transcoder.

use thiserror::Error;

/// Everything that can go wrong while transcoding between protobuf and JSON.
#[derive(Debug, Error)]
pub enum ProtobufError {
    /// The body does not start with the `k8s\0` magic bytes.
    #[error("body does not start with the Kubernetes protobuf magic bytes k8s\\0")]
    MissingMagic,
    /// The input ended inside a value.
    #[error("truncated protobuf input")]
    Truncated,
    /// A varint was longer than 10 bytes.
    #[error("malformed varint")]
    BadVarint,
    /// A field key carried field number 0 or an unknown wire type.
    #[error("invalid field key (field {field}, wire type {wire_type})")]
    BadKey { field: u64, wire_type: u8 },
    /// A known field arrived with a wire type its schema type cannot have.
    #[error("field {field}: unexpected wire type {wire_type}")]
    WireType { field: String, wire_type: u8 },
    /// A string field did not hold UTF-8.
    #[error("field {field}: string is not valid UTF-8")]
    Utf8 { field: String },
    /// The runtime.Unknown envelope carried no apiVersion/kind.
    #[error("protobuf envelope carries no kind")]
    MissingKind,
    /// The envelope's raw bytes were compressed or otherwise encoded.
    #[error("unsupported contentEncoding {0:?}")]
    ContentEncoding(String),
    /// No protobuf message is known for this apiVersion/kind.
    #[error("no protobuf schema for {api_version}, Kind={kind}")]
    UnknownKind { api_version: String, kind: String },
    /// Embedded JSON (RawExtension, FieldsV1, JSON) did not parse, or could not be written.
    #[error("field {field}: embedded JSON: {source}")]
    EmbeddedJson {
        field: String,
        #[source]
        source: serde_json::Error,
    },
    /// Messages nested deeper than the transcoder allows.
    #[error("objects nested too deeply")]
    TooDeep,
    /// A JSON value had the wrong type for its protobuf field.
    #[error("field {field}: expected {expected}")]
    JsonType {
        field: String,
        expected: &'static str,
    },
    /// A JSON time string was not RFC 3339.
    #[error("field {field}: invalid time {value:?}")]
    Time { field: String, value: String },
    /// A JSON duration string was not a Go duration.
    #[error("field {field}: invalid duration {value:?}")]
    Duration { field: String, value: String },
    /// A JSON bytes string was not base64.
    #[error("field {field}: invalid base64")]
    Base64 { field: String },
    /// The embedded schema table is broken (a build problem, not an input problem).
    #[error("protobuf schema table: {0}")]
    Schema(String),
}
