//! API errors and their one mapping to Kubernetes `Status` responses.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use rkube_api::{FieldError, ResourceInfo};
use serde_json::{Value, json};

/// Everything a request can fail with; `into_response` turns it into a `Status` object.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { message: String },
    #[error("Unauthorized")]
    Unauthorized,
    #[error("{message}")]
    Forbidden {
        message: String,
        details: Option<Details>,
    },
    #[error("{message}")]
    NotFound {
        message: String,
        details: Option<Details>,
    },
    #[error("{message}")]
    AlreadyExists { message: String, details: Details },
    #[error("{message}")]
    Conflict { message: String, details: Details },
    #[error("{message}")]
    Gone { message: String },
    #[error("{message}")]
    Invalid {
        message: String,
        details: Details,
        causes: Vec<FieldError>,
    },
    #[error("the server does not allow this method on the requested resource")]
    MethodNotAllowed,
    #[error("{message}")]
    NotAcceptable { message: String },
    #[error("{message}")]
    UnsupportedMediaType { message: String },
    #[error("Request entity too large: limit is 3145728")]
    TooLarge,
    #[error("{message}")]
    Timeout { message: String },
    #[error("{message}")]
    ServiceUnavailable { message: String },
    #[error("Internal error occurred: {message}")]
    Internal { message: String },
}

/// `details` of a Status: which object the error is about.
#[derive(Debug, Clone, Default)]
pub struct Details {
    pub name: String,
    pub group: String,
    pub kind: String,
}

impl Details {
    /// Details naming one object of a resource (kind is the plural, as upstream puts it).
    pub fn of(info: &ResourceInfo, name: &str) -> Self {
        Details {
            name: name.to_string(),
            group: info.group.to_string(),
            kind: info.plural.to_string(),
        }
    }
}

/// `pods` or `deployments.apps`: how upstream names a resource in messages.
pub fn qualified_resource(info: &ResourceInfo) -> String {
    if info.group.is_empty() {
        info.plural.to_string()
    } else {
        format!("{}.{}", info.plural, info.group)
    }
}

impl ApiError {
    /// 404 for a path that names no resource (upstream's generic NotFound).
    pub fn no_such_resource() -> Self {
        ApiError::NotFound {
            message: "the server could not find the requested resource".into(),
            details: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            message: message.into(),
        }
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        ApiError::Internal {
            message: message.to_string(),
        }
    }

    /// `pods "x" not found`.
    pub fn not_found(info: &ResourceInfo, name: &str) -> Self {
        ApiError::NotFound {
            message: format!("{} \"{name}\" not found", qualified_resource(info)),
            details: Some(Details::of(info, name)),
        }
    }

    /// `pods "x" already exists`.
    pub fn already_exists(info: &ResourceInfo, name: &str) -> Self {
        ApiError::AlreadyExists {
            message: format!("{} \"{name}\" already exists", qualified_resource(info)),
            details: Details::of(info, name),
        }
    }

    /// The optimistic-concurrency conflict upstream reports on a stale resourceVersion.
    pub fn conflict(info: &ResourceInfo, name: &str) -> Self {
        ApiError::Conflict {
            message: format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                qualified_resource(info)
            ),
            details: Details::of(info, name),
        }
    }

    /// A conflict with a custom explanation (`Operation cannot be fulfilled on …: <why>`).
    pub fn conflict_because(info: &ResourceInfo, name: &str, why: &str) -> Self {
        ApiError::Conflict {
            message: format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified_resource(info)
            ),
            details: Details::of(info, name),
        }
    }

    /// `Pod "x" is invalid: [a, b]` with one cause per field error.
    pub fn invalid(info: &ResourceInfo, name: &str, causes: Vec<FieldError>) -> Self {
        Self::invalid_as(info.group, info.kind, info.kind, name, causes)
    }

    /// [`ApiError::invalid`] of a kind the registry does not store (`shown` names it in
    /// the message, e.g. `TokenRequest.authentication.k8s.io`).
    pub fn invalid_as(
        group: &str,
        kind: &str,
        shown: &str,
        name: &str,
        causes: Vec<FieldError>,
    ) -> Self {
        let list: Vec<String> = causes.iter().map(|c| c.to_string()).collect();
        let joined = if list.len() == 1 {
            list[0].clone()
        } else {
            format!("[{}]", list.join(", "))
        };
        ApiError::Invalid {
            message: format!("{shown} \"{name}\" is invalid: {joined}"),
            details: Details {
                name: name.to_string(),
                group: group.to_string(),
                kind: kind.to_string(),
            },
            causes,
        }
    }

    /// HTTP status code of the error.
    pub fn code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotAcceptable { .. } => StatusCode::NOT_ACCEPTABLE,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ApiError::ServiceUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `reason` field of the Status.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "BadRequest",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::NotFound { .. } => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Gone { .. } => "Expired",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::MethodNotAllowed => "MethodNotAllowed",
            ApiError::NotAcceptable { .. } => "NotAcceptable",
            ApiError::UnsupportedMediaType { .. } => "UnsupportedMediaType",
            ApiError::TooLarge => "RequestEntityTooLarge",
            ApiError::Timeout { .. } => "Timeout",
            ApiError::ServiceUnavailable { .. } => "ServiceUnavailable",
            ApiError::Internal { .. } => "InternalError",
        }
    }

    /// The `Status` object for this error.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code().as_u16(),
        });
        let details = match self {
            ApiError::NotFound {
                details: Some(d), ..
            }
            | ApiError::Forbidden {
                details: Some(d), ..
            } => Some((d, Vec::new())),
            ApiError::AlreadyExists { details, .. } | ApiError::Conflict { details, .. } => {
                Some((details, Vec::new()))
            }
            ApiError::Invalid {
                details, causes, ..
            } => Some((details, causes.clone())),
            _ => None,
        };
        if let Some((d, causes)) = details {
            let mut obj = json!({ "name": d.name, "kind": d.kind });
            if !d.group.is_empty() {
                obj["group"] = json!(d.group);
            }
            if !causes.is_empty() {
                obj["causes"] = causes
                    .iter()
                    .map(|c| json!({ "reason": c.kind.cause(), "message": cause_message(c), "field": c.field }))
                    .collect();
            }
            status["details"] = obj;
        }
        status
    }
}

/// The message of one cause: the field error without its field prefix.
fn cause_message(e: &FieldError) -> String {
    let full = e.to_string();
    full.strip_prefix(&format!("{}: ", e.field))
        .map(str::to_string)
        .unwrap_or(full)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        if code.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        }
        let body = serde_json::to_vec(&self.status()).unwrap_or_default();
        let mut resp = (code, body).into_response();
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        resp
    }
}

impl From<rkube_store::StoreError> for ApiError {
    fn from(e: rkube_store::StoreError) -> Self {
        match e {
            rkube_store::StoreError::Compacted {
                requested,
                compacted,
            } => ApiError::Gone {
                message: format!("too old resource version: {requested} ({compacted})"),
            },
            other => ApiError::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_status_matches_upstream_shape() {
        let info = rkube_api::registry::find("apps", "v1", "deployments").unwrap();
        let s = ApiError::not_found(info, "web").status();
        assert_eq!(s["message"], "deployments.apps \"web\" not found");
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(s["code"], 404);
        assert_eq!(s["details"]["group"], "apps");
    }

    #[test]
    fn invalid_lists_causes() {
        let info = rkube_api::registry::find("", "v1", "pods").unwrap();
        let e = ApiError::invalid(
            info,
            "p",
            vec![FieldError::required("spec.containers[0].image", "")],
        );
        let s = e.status();
        assert_eq!(s["code"], 422);
        assert_eq!(
            s["message"],
            "Pod \"p\" is invalid: spec.containers[0].image: Required value"
        );
        assert_eq!(
            s["details"]["causes"][0]["field"],
            "spec.containers[0].image"
        );
        assert_eq!(s["details"]["causes"][0]["reason"], "FieldValueRequired");
    }
}
