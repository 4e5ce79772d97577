//! Projected service-account tokens: requested through TokenRequest for the pod's
//! service account, bound to the pod, and renewed as upstream's kubelet does (when 80 %
//! of the lifetime has passed, or after 24 hours).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

/// Lifetime a projected token has when the volume names none.
const DEFAULT_EXPIRATION: i64 = 3600;
/// Renewed at the latest after this long, whatever the lifetime.
const MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// One kind of token a pod's volumes need: (audience, "" for the API server's;
/// lifetime in seconds).
pub type TokenKey = (String, i64);

/// The tokens the pod's projected volumes need.
pub fn sources(pod: &Pod) -> Vec<TokenKey> {
    let mut keys: Vec<TokenKey> = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|v| v.projected.as_ref()?.sources.as_ref())
        .flatten()
        .filter_map(|src| src.service_account_token.as_ref())
        .map(|t| key(t.audience.as_deref(), t.expiration_seconds))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The key of a `serviceAccountToken` source.
pub fn key(audience: Option<&str>, expiration_seconds: Option<i64>) -> TokenKey {
    (
        audience.unwrap_or("").to_string(),
        expiration_seconds.unwrap_or(DEFAULT_EXPIRATION),
    )
}

struct Held {
    token: String,
    fetched: Instant,
    lifetime: Duration,
}

impl Held {
    fn fresh(&self, now: Instant) -> bool {
        let age = now.saturating_duration_since(self.fetched);
        age < self.lifetime.mul_f64(0.8) && age < MAX_AGE
    }
}

/// A pod's tokens, requested when first needed and renewed before they expire.
#[derive(Default)]
pub struct TokenCache {
    held: HashMap<TokenKey, Held>,
}

impl TokenCache {
    /// The current token for each of `keys`; a key whose request failed maps to why.
    pub async fn tokens(
        &mut self,
        client: Option<&kube::Client>,
        pod: &Pod,
        keys: &[TokenKey],
    ) -> HashMap<TokenKey, Result<String, String>> {
        let now = Instant::now();
        self.held.retain(|k, _| keys.contains(k));
        let mut out = HashMap::new();
        for k in keys {
            if let Some(h) = self.held.get(k).filter(|h| h.fresh(now)) {
                out.insert(k.clone(), Ok(h.token.clone()));
                continue;
            }
            let got = match client {
                Some(c) => request(c, pod, k).await,
                None => Err("no API server to request a token from".to_string()),
            };
            match got {
                Ok((token, lifetime)) => {
                    self.held.insert(
                        k.clone(),
                        Held {
                            token: token.clone(),
                            fetched: now,
                            lifetime,
                        },
                    );
                    out.insert(k.clone(), Ok(token));
                }
                // A token still valid serves until a renewal works.
                Err(e) => match self.held.get(k) {
                    Some(h) if now.saturating_duration_since(h.fetched) < h.lifetime => {
                        tracing::warn!(error = %e, "renewing a service account token failed");
                        out.insert(k.clone(), Ok(h.token.clone()));
                    }
                    _ => {
                        out.insert(k.clone(), Err(e));
                    }
                },
            }
        }
        out
    }
}

/// The TokenRequest body for a token bound to `pod`.
pub fn request_body(pod: &Pod, (audience, expiration): &TokenKey) -> Value {
    let mut spec = json!({
        "expirationSeconds": expiration,
        "boundObjectRef": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": pod.metadata.name.as_deref().unwrap_or(""),
            "uid": pod.metadata.uid.as_deref().unwrap_or(""),
        },
    });
    if !audience.is_empty() {
        spec["audiences"] = json!([audience]);
    }
    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
}

/// Asks the API server for a token of the pod's service account: (token, lifetime).
async fn request(
    client: &kube::Client,
    pod: &Pod,
    k: &TokenKey,
) -> Result<(String, Duration), String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let account = pod
        .spec
        .as_ref()
        .and_then(|s| s.service_account_name.as_deref())
        .filter(|s| !s.is_empty())
        .unwrap_or("default");
    let body = serde_json::to_vec(&request_body(pod, k)).map_err(|e| e.to_string())?;
    let req = http::Request::post(format!(
        "/api/v1/namespaces/{ns}/serviceaccounts/{account}/token"
    ))
    .header(http::header::CONTENT_TYPE, "application/json")
    .body(body)
    .map_err(|e| e.to_string())?;
    let answer: Value = client.request(req).await.map_err(|e| match e {
        kube::Error::Api(s) => s.message,
        other => other.to_string(),
    })?;
    let token = answer["status"]["token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or("the TokenRequest answer has no token")?
        .to_string();
    let lifetime = answer["spec"]["expirationSeconds"]
        .as_i64()
        .unwrap_or(k.1)
        .max(1);
    Ok((token, Duration::from_secs(lifetime.unsigned_abs())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_and_request_bodies_follow_the_pod() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
            "spec": {"containers": [{"name": "c"}], "volumes": [
                {"name": "a", "projected": {"sources": [
                    {"serviceAccountToken": {"path": "token"}},
                    {"serviceAccountToken": {"path": "vault", "audience": "vault", "expirationSeconds": 7200}},
                ]}},
                {"name": "b", "projected": {"sources": [{"serviceAccountToken": {"path": "t2"}}]}},
            ]},
        }))
        .unwrap();
        let keys = sources(&pod);
        assert_eq!(keys, [(String::new(), 3600), ("vault".to_string(), 7200)]);
        let body = request_body(&pod, &keys[1]);
        assert_eq!(body["spec"]["audiences"], json!(["vault"]));
        assert_eq!(body["spec"]["expirationSeconds"], 7200);
        assert_eq!(body["spec"]["boundObjectRef"]["uid"], "u1");
        assert!(
            request_body(&pod, &keys[0])["spec"]
                .get("audiences")
                .is_none()
        );
    }

    #[test]
    fn tokens_are_renewed_after_four_fifths_of_their_lifetime() {
        let t0 = Instant::now();
        let held = Held {
            token: "t".into(),
            fetched: t0,
            lifetime: Duration::from_secs(100),
        };
        assert!(held.fresh(t0 + Duration::from_secs(79)));
        assert!(!held.fresh(t0 + Duration::from_secs(80)));
    }
}
