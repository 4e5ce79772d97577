//! RFC 6902 JSON patch and RFC 7386 JSON merge patch, with upstream's error classes.

use serde_json::Value;

use super::PatchError;

/// The Status message upstream answers every 422 from applying a patch with.
pub(crate) const UNPROCESSABLE_MESSAGE: &str =
    "the server rejected our request due to an error in our request";

/// The Go `encoding/json` name of a JSON value's type, as used in its unmarshal errors.
fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Parses patch bytes as JSON, mapping syntax errors to messages shaped like Go's.
pub(crate) fn parse_json(bytes: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(bytes).map_err(|e| go_syntax_message(bytes, &e))
}

/// Renders a serde_json error the way Go's `encoding/json` words a syntax error.
fn go_syntax_message(bytes: &[u8], e: &serde_json::Error) -> String {
    if e.is_eof() {
        return "unexpected end of JSON input".to_string();
    }
    // Locate the offending byte from serde's 1-based line/column.
    let mut line = 1;
    let mut col = 0;
    for &b in bytes {
        if b == b'\n' {
            line += 1;
            col = 0;
            continue;
        }
        col += 1;
        if line == e.line() && col == e.column() {
            return format!(
                "invalid character '{}' looking for beginning of value",
                b as char
            );
        }
    }
    format!("invalid character looking for beginning of value: {e}")
}

/// Applies an RFC 6902 JSON patch: malformed documents are 400, failed operations 422.
pub(crate) fn apply_json_patch(original: &Value, patch: &[u8]) -> Result<Value, PatchError> {
    let parsed = parse_json(patch).map_err(PatchError::BadRequest)?;
    let ops = match parsed {
        Value::Array(ops) => ops,
        Value::Null => Vec::new(),
        other => {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
                go_kind(&other)
            )));
        }
    };
    let mut decoded = Vec::with_capacity(ops.len());
    for op in ops {
        if !op.is_object() {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
                go_kind(&op)
            )));
        }
        // Unknown operations and missing members only fail when applied upstream: 422.
        let op: json_patch::PatchOperation =
            serde_json::from_value(op).map_err(|e| PatchError::unprocessable(e.to_string()))?;
        decoded.push(op);
    }
    let mut doc = original.clone();
    json_patch::patch(&mut doc, &decoded).map_err(|e| PatchError::unprocessable(e.to_string()))?;
    Ok(doc)
}

/// Applies an RFC 7386 JSON merge patch; a patch that is not JSON (or `null`) is 400.
pub(crate) fn apply_merge_patch(original: &Value, patch: &[u8]) -> Result<Value, PatchError> {
    let parsed = match parse_json(patch) {
        Ok(Value::Null) | Err(_) => {
            return Err(PatchError::BadRequest("Invalid JSON Patch".to_string()));
        }
        Ok(v) => v,
    };
    let mut doc = original.clone();
    json_patch::merge(&mut doc, &parsed);
    Ok(doc)
}

/// Parses a strategic merge patch body, which must be a JSON object (or `null`).
pub(crate) fn parse_patch_object(patch: &[u8]) -> Result<Value, PatchError> {
    let parsed = parse_json(patch).map_err(PatchError::BadRequest)?;
    match parsed {
        Value::Object(_) => Ok(parsed),
        Value::Null => Ok(Value::Object(serde_json::Map::new())),
        other => Err(PatchError::BadRequest(format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            go_kind(&other)
        ))),
    }
}
