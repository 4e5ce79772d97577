//! Service-account tokens: JWTs the server issues through TokenRequest
//! (`serviceaccounts/<name>/token`) and accepts back as bearer tokens.
//!
//! The claims are upstream's (`iss`, `sub` = `system:serviceaccount:<ns>:<name>`, `aud`,
//! `exp`, `iat`, `nbf`, `jti` and the `kubernetes.io` object references); the signature is
//! HMAC-SHA256 with a key kept in the data dir, so only this server (or one sharing its
//! data dir) can verify them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::auth::UserInfo;

/// Leeway for clocks when checking `nbf` and `exp`, in seconds.
const LEEWAY: i64 = 60;

/// An object a token names: the service account, and what it is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub name: String,
    pub uid: String,
}

/// The `kubernetes.io` claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaims {
    pub namespace: String,
    pub serviceaccount: ObjectRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<ObjectRef>,
}

/// A token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub jti: String,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaims,
    pub nbf: i64,
    pub sub: String,
}

impl Claims {
    /// The user a token authenticates as, with upstream's groups.
    pub fn user(&self) -> UserInfo {
        let ns = &self.kubernetes.namespace;
        UserInfo {
            name: self.sub.clone(),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ],
        }
    }
}

/// Signs and verifies service-account tokens.
#[derive(Clone)]
pub struct ServiceAccountTokens {
    key: hmac::Key,
    /// `iss` of the tokens, and the audience the API server accepts.
    pub issuer: String,
}

impl std::fmt::Debug for ServiceAccountTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountTokens")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// The issuer upstream's distributions use: `https://kubernetes.default.svc.<domain>`.
pub fn issuer_for(cluster_domain: &str) -> String {
    format!("https://kubernetes.default.svc.{cluster_domain}")
}

impl ServiceAccountTokens {
    pub fn new(secret: &[u8], issuer: String) -> Self {
        ServiceAccountTokens {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            issuer,
        }
    }

    /// The signed token for `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signed = format!("{header}.{payload}");
        let tag = hmac::sign(&self.key, signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The claims of a token this server signed, if it is valid at `now` (Unix seconds)
    /// and meant for the API server (its audiences include the issuer).
    pub fn verify(&self, token: &str, now: i64) -> Option<Claims> {
        let mut parts = token.split('.');
        let (header, payload, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let signed = &token[..header.len() + 1 + payload.len()];
        hmac::verify(&self.key, signed.as_bytes(), &tag).ok()?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let in_time = claims.nbf - LEEWAY <= now && now < claims.exp + LEEWAY;
        (in_time && claims.iss == self.issuer && claims.aud.contains(&self.issuer))
            .then_some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(aud: &str, nbf: i64, exp: i64) -> Claims {
        Claims {
            aud: vec![aud.into()],
            exp,
            iat: nbf,
            iss: issuer_for("cluster.local"),
            jti: "j".into(),
            kubernetes: KubernetesClaims {
                namespace: "default".into(),
                serviceaccount: ObjectRef {
                    name: "default".into(),
                    uid: "u".into(),
                },
                pod: None,
                secret: None,
                node: None,
            },
            nbf,
            sub: "system:serviceaccount:default:default".into(),
        }
    }

    #[test]
    fn signed_tokens_verify_only_with_the_key_in_time_and_for_the_api_server() {
        let issuer = issuer_for("cluster.local");
        let tokens = ServiceAccountTokens::new(b"secret", issuer.clone());
        let good = claims(&issuer, 1_000, 4_600);
        let token = tokens.sign(&good);
        assert_eq!(tokens.verify(&token, 2_000), Some(good.clone()));
        assert_eq!(
            good.user().groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:default",
                "system:authenticated"
            ]
        );
        // Expired, not yet valid, another key, another audience, tampered payload.
        assert!(tokens.verify(&token, 4_700).is_none());
        assert!(tokens.verify(&token, 900).is_none());
        let other = ServiceAccountTokens::new(b"other", issuer.clone());
        assert!(other.verify(&token, 2_000).is_none());
        assert!(
            tokens
                .verify(&tokens.sign(&claims("vault", 1_000, 4_600)), 2_000)
                .is_none()
        );
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(&issuer, 1_000, 99_999)).unwrap());
        parts[1] = &forged;
        assert!(tokens.verify(&parts.join("."), 2_000).is_none());
        assert!(tokens.verify("not.a.token.at.all", 2_000).is_none());
    }
}
