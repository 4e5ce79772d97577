//! `POST serviceaccounts/<name>/token`: TokenRequest, as `kubectl create token` and the
//! node agent's projected service-account tokens use it.

use axum::response::Response;
use http::{HeaderMap, StatusCode};
use rkube_api::{FieldError, ResourceInfo, registry};
use serde_json::{Value, json};

use super::body;
use super::pod_log::get_json;
use crate::error::ApiError;
use crate::meta;
use crate::request::ResourceRequest;
use crate::sa_token::{Claims, KubernetesClaims, ObjectRef};
use crate::state::AppState;

/// Token lifetime when the request names none, as upstream.
const DEFAULT_EXPIRATION: i64 = 3600;
/// Shortest lifetime a request may ask for.
const MIN_EXPIRATION: i64 = 600;
/// Longest lifetime a request may ask for (2^32 seconds).
const MAX_EXPIRATION: i64 = 1 << 32;
/// Kinds a token may be bound to.
const BINDABLE: [&str; 3] = ["Pod", "Secret", "Node"];

/// Issues a token for the service account `req` names.
pub async fn create_token(
    state: &AppState,
    req: &ResourceRequest,
    headers: &HeaderMap,
    raw: &[u8],
) -> Result<Response, ApiError> {
    let info = req.info;
    let (Some(tokens), "ServiceAccount") = (state.auth.service_accounts(), info.kind) else {
        return Err(ApiError::no_such_resource());
    };
    let namespace = req.namespace.clone().unwrap_or_default();
    let name = req.name.clone().unwrap_or_default();
    let request = if raw.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        body::parse_body(headers, raw)?
    };
    let spec = &request["spec"];

    let mut errors = vec![];
    let expiration = match &spec["expirationSeconds"] {
        Value::Null => DEFAULT_EXPIRATION,
        v => match v.as_i64() {
            Some(n) if n < MIN_EXPIRATION => {
                errors.push(FieldError::invalid(
                    "spec.expirationSeconds",
                    n,
                    "may not specify a duration less than 10 minutes",
                ));
                n
            }
            Some(n) if n > MAX_EXPIRATION => {
                errors.push(FieldError::invalid(
                    "spec.expirationSeconds",
                    n,
                    "may not specify a duration larger than 2^32 seconds",
                ));
                n
            }
            Some(n) => n,
            None => {
                return Err(ApiError::bad_request(
                    "spec.expirationSeconds must be an integer",
                ));
            }
        },
    };
    let bound = &spec["boundObjectRef"];
    let bound_kind = bound["kind"].as_str().unwrap_or("");
    if !bound.is_null() && !BINDABLE.contains(&bound_kind) {
        errors.push(FieldError::not_supported(
            "spec.boundObjectRef.kind",
            bound_kind,
            &BINDABLE,
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid_as(
            "authentication.k8s.io",
            "TokenRequest",
            "TokenRequest.authentication.k8s.io",
            &name,
            errors,
        ));
    }

    let account = get_json(state, &stored_key(info, &namespace, &name))
        .await?
        .ok_or_else(|| ApiError::not_found(info, &name))?;
    let mut kubernetes = KubernetesClaims {
        namespace: namespace.clone(),
        serviceaccount: ObjectRef {
            name: name.clone(),
            uid: meta::meta_str(&account, "uid").unwrap_or("").to_string(),
        },
        pod: None,
        secret: None,
        node: None,
    };
    if !bound.is_null() {
        let bound_name = bound["name"].as_str().unwrap_or("");
        let (plural, ns) = match bound_kind {
            "Pod" => ("pods", namespace.as_str()),
            "Secret" => ("secrets", namespace.as_str()),
            _ => ("nodes", ""),
        };
        let Some(bound_info) = registry::find("", "v1", plural) else {
            return Err(ApiError::internal(format!("no {plural} resource")));
        };
        let object = get_json(state, &stored_key(bound_info, ns, bound_name))
            .await?
            .ok_or_else(|| ApiError::not_found(bound_info, bound_name))?;
        let uid = meta::meta_str(&object, "uid").unwrap_or("").to_string();
        if let Some(want) = bound["uid"].as_str().filter(|u| !u.is_empty())
            && want != uid
        {
            return Err(ApiError::conflict_because(
                bound_info,
                bound_name,
                &format!(
                    "the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated"
                ),
            ));
        }
        let reference = Some(ObjectRef {
            name: bound_name.to_string(),
            uid,
        });
        match bound_kind {
            "Pod" => kubernetes.pod = reference,
            "Secret" => kubernetes.secret = reference,
            _ => kubernetes.node = reference,
        }
    }

    let audiences: Vec<String> = spec["audiences"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .filter(|a: &Vec<String>| !a.is_empty())
        .unwrap_or_else(|| vec![tokens.issuer.clone()]);
    let now = jiff::Timestamp::now();
    let iat = now.as_second();
    let claims = Claims {
        aud: audiences.clone(),
        exp: iat + expiration,
        iat,
        iss: tokens.issuer.clone(),
        jti: uuid::Uuid::new_v4().to_string(),
        kubernetes,
        nbf: iat,
        sub: format!("system:serviceaccount:{namespace}:{name}"),
    };
    let expires = jiff::Timestamp::from_second(claims.exp)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    let mut out_spec = json!({"audiences": audiences, "expirationSeconds": expiration});
    if !bound.is_null() {
        out_spec["boundObjectRef"] = bound.clone();
    }
    let response = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        },
        "spec": out_spec,
        "status": {"token": tokens.sign(&claims), "expirationTimestamp": expires},
    });
    Ok(body::value_response(StatusCode::CREATED, &response))
}

/// The store key of `namespace/name` of `info`.
fn stored_key(info: &'static ResourceInfo, namespace: &str, name: &str) -> String {
    meta::key(registry::storage_of(info), namespace, name)
}
