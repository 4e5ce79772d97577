//! Decoding request bodies and encoding responses (JSON, Table, PartialObjectMetadata).

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use rkube_api::ResourceInfo;
use serde_json::{Value, json};

use crate::error::ApiError;

/// Largest request body accepted, as upstream (3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

/// Parses a request body as JSON (or YAML when the content type says so).
pub fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    if body.len() > MAX_BODY {
        return Err(ApiError::TooLarge);
    }
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let media = ctype.split(';').next().unwrap_or("").trim();
    match media {
        "application/yaml" | "application/apply-patch+yaml" => {
            serde_yaml::from_slice::<Value>(body)
                .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))
        }
        "application/vnd.kubernetes.protobuf" => {
            rkube_protobuf::decode_to_json(body).map_err(|e| {
                ApiError::bad_request(format!("error decoding request body as protobuf: {e}"))
            })
        }
        _ => serde_json::from_slice::<Value>(body).map_err(|e| {
            ApiError::bad_request(format!("error decoding request body as JSON: {e}"))
        }),
    }
}

/// Checks `apiVersion`/`kind` of a body against the URL's resource, filling them when absent.
pub fn check_type_meta(
    info: &ResourceInfo,
    obj: &mut Value,
    want_kind: &str,
    want_api_version: &str,
) -> Result<(), ApiError> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(format!(
            "the body of the request was not a JSON object: expected a {want_kind}"
        )));
    };
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let api_version = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if kind.is_empty() {
        map.insert("kind".into(), json!(want_kind));
    } else if kind != want_kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the body ({kind}) does not match the expected kind ({want_kind}) for {}",
            crate::error::qualified_resource(info)
        )));
    }
    if api_version.is_empty() {
        map.insert("apiVersion".into(), json!(want_api_version));
    } else if api_version != want_api_version {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({want_api_version})"
        )));
    }
    Ok(())
}

/// What representation the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Json,
    Table,
    PartialMetadata,
}

/// Negotiates the response representation from `Accept`.
pub fn negotiate(headers: &HeaderMap) -> Result<Output, ApiError> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.trim().is_empty() {
        return Ok(Output::Json);
    }
    for part in accept.split(',') {
        let mut params = part.split(';').map(str::trim);
        let media = params.next().unwrap_or("");
        let mut as_ = "";
        let mut g = "";
        for p in params {
            if let Some((k, v)) = p.split_once('=') {
                match k {
                    "as" => as_ = v,
                    "g" => g = v,
                    _ => {}
                }
            }
        }
        let json_like = matches!(
            media,
            "application/json" | "*/*" | "application/*" | "application/yaml"
        );
        if !json_like {
            continue;
        }
        match (as_, g) {
            ("", _) => return Ok(Output::Json),
            ("Table", "meta.k8s.io") => return Ok(Output::Table),
            ("PartialObjectMetadata" | "PartialObjectMetadataList", "meta.k8s.io") => {
                return Ok(Output::PartialMetadata);
            }
            _ => continue,
        }
    }
    Err(ApiError::NotAcceptable {
        message: "only the following media types are accepted: application/json, application/yaml, application/json;as=Table;v=v1;g=meta.k8s.io".into(),
    })
}

/// A JSON response with a status code.
pub fn json_response(code: StatusCode, body: impl Into<Bytes>) -> Response {
    let mut r = (code, body.into()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Serializes a value into a JSON response.
pub fn value_response(code: StatusCode, v: &Value) -> Response {
    json_response(code, serde_json::to_vec(v).unwrap_or_default())
}

/// Adds `Warning: 299 - "…"` headers.
pub fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let escaped = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{escaped}\"")) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}

/// `PartialObjectMetadata` of an object.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(accept: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
        m
    }

    #[test]
    fn negotiates_kubectl_table_accept() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(negotiate(&h(kubectl)).unwrap(), Output::Table);
        assert_eq!(negotiate(&h("application/json")).unwrap(), Output::Json);
        assert_eq!(
            negotiate(&h("application/vnd.kubernetes.protobuf, */*")).unwrap(),
            Output::Json
        );
        assert!(negotiate(&h("application/vnd.kubernetes.protobuf")).is_err());
    }
}
