//! Objects every cluster has from the start: system namespaces and the `kubernetes` Service.

use rkube_api::registry;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::rest::admit;
use crate::state::AppState;

/// Namespaces created on first start, as upstream and k3s have them.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

async fn ensure(state: &AppState, group: &str, plural: &str, obj: Value) -> Result<(), ApiError> {
    let Some(info) = registry::find(group, "v1", plural) else {
        return Err(ApiError::internal(format!("{plural} not registered")));
    };
    let key = crate::meta::key(info, crate::meta::namespace(&obj), crate::meta::name(&obj));
    if state
        .caches
        .for_resource(info)
        .and_then(|c| c.get(&key))
        .is_some()
    {
        return Ok(());
    }
    let opts = crate::request::WriteOptions {
        dry_run: false,
        field_validation: crate::request::FieldValidation::Ignore,
    };
    let (decoded, _) = admit::decode(info, obj, &opts)?;
    match crate::rest::create::create_object(state, info, decoded, false).await {
        Ok(_) | Err(ApiError::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Creates what is missing; safe to run on every start.
pub async fn run(state: &AppState) -> Result<(), ApiError> {
    for ns in SYSTEM_NAMESPACES {
        ensure(
            state,
            "",
            "namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await?;
    }
    let ip = state.config.first_service_ip().to_string();
    ensure(
        state,
        "",
        "services",
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {
                "type": "ClusterIP",
                "clusterIP": ip,
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": state.config.port}],
                "sessionAffinity": "None"
            }
        }),
    )
    .await?;
    ensure(
        state,
        "",
        "endpoints",
        json!({
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{
                "addresses": [{"ip": state.advertise_ip.to_string()}],
                "ports": [{"name": "https", "port": state.config.port, "protocol": "TCP"}]
            }]
        }),
    )
    .await?;
    Ok(())
}
