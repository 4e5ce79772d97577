//! Bearer-token authentication: the admin token, the node join token and
//! service-account tokens.

use std::path::Path;

use rand::Rng;

use crate::sa_token::ServiceAccountTokens;

/// Who a request comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}

/// The tokens the server accepts.
#[derive(Debug, Clone)]
pub struct Authenticator {
    admin_token: String,
    node_token: String,
    service_accounts: Option<ServiceAccountTokens>,
}

/// Paths that answer without credentials, as upstream's `system:public-info-viewer`.
pub fn is_public_path(path: &str) -> bool {
    matches!(
        path,
        "/livez" | "/readyz" | "/healthz" | "/version" | "/version/" | "/cacerts"
    ) || path.starts_with("/livez/")
        || path.starts_with("/readyz/")
        || path.starts_with("/healthz/")
}

impl Authenticator {
    pub fn new(admin_token: String, node_token: String) -> Self {
        Authenticator {
            admin_token,
            node_token,
            service_accounts: None,
        }
    }

    /// Also accepts the service-account tokens `tokens` signs.
    pub fn with_service_accounts(mut self, tokens: ServiceAccountTokens) -> Self {
        self.service_accounts = Some(tokens);
        self
    }

    /// The signer of service-account tokens, if the server issues them.
    pub fn service_accounts(&self) -> Option<&ServiceAccountTokens> {
        self.service_accounts.as_ref()
    }

    /// The admin's bearer token (written to the kubeconfig).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The node join token (also what the API server presents to node agents).
    pub fn node_token(&self) -> &str {
        &self.node_token
    }

    /// Checks an `Authorization` header value.
    pub fn authenticate(&self, header: Option<&str>) -> Option<UserInfo> {
        let token = header?.strip_prefix("Bearer ")?.trim();
        if constant_time_eq(token.as_bytes(), self.admin_token.as_bytes()) {
            return Some(UserInfo {
                name: "system:admin".into(),
                groups: vec!["system:masters".into(), "system:authenticated".into()],
            });
        }
        if constant_time_eq(token.as_bytes(), self.node_token.as_bytes()) {
            return Some(UserInfo {
                name: "system:node".into(),
                groups: vec!["system:nodes".into(), "system:authenticated".into()],
            });
        }
        let tokens = self.service_accounts.as_ref()?;
        let now = jiff::Timestamp::now().as_second();
        tokens.verify(token, now).map(|c| c.user())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A random token of 32 hex characters.
pub fn random_token() -> String {
    let mut rng = rand::rng();
    (0..16)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// Reads a token file, or writes `fallback` (or a new random token) to it.
pub fn load_or_create_token(path: &Path, fallback: Option<&str>) -> std::io::Result<String> {
    if let Some(t) = fallback {
        write_token(path, t)?;
        return Ok(t.to_string());
    }
    match std::fs::read_to_string(path) {
        Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
        _ => {
            let t = random_token();
            write_token(path, &t)?;
            Ok(t)
        }
    }
}

fn write_token(path: &Path, token: &str) -> std::io::Result<()> {
    crate::tls::write_private(path, &format!("{token}\n")).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_known_tokens() {
        let a = Authenticator::new("admintok".into(), "nodetok".into());
        assert!(a.authenticate(Some("Bearer admintok")).is_some());
        assert!(a.authenticate(Some("Bearer nodetok")).is_some());
        assert!(a.authenticate(Some("Bearer wrong")).is_none());
        assert!(a.authenticate(None).is_none());
        assert!(a.authenticate(Some("Basic admintok")).is_none());
    }
}
