//! Reads a kubeconfig's current context: server URL, CA and credentials.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use serde_yaml::Value;

/// Where and how to reach an API server.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// Base URL, e.g. `https://127.0.0.1:6443` (no trailing slash).
    pub server: String,
    /// PEM of the cluster CA, if any.
    pub ca_pem: Option<Vec<u8>>,
    /// Skip TLS verification (`insecure-skip-tls-verify: true`).
    pub insecure: bool,
    /// Bearer token, if any.
    pub token: Option<String>,
    /// Client certificate and key PEM, concatenated, if any.
    pub identity_pem: Option<Vec<u8>>,
}

/// The kubeconfig path: the argument, else `$KUBECONFIG` (first entry), else `~/.kube/config`.
pub fn default_path(arg: Option<&Path>) -> std::path::PathBuf {
    if let Some(p) = arg {
        return p.to_path_buf();
    }
    if let Some(k) = std::env::var_os("KUBECONFIG")
        && let Some(first) = std::env::split_paths(&k).next()
    {
        return first;
    }
    let home = std::env::var_os("HOME").unwrap_or_default();
    Path::new(&home).join(".kube/config")
}

/// Loads the current context of the kubeconfig at `path`.
pub fn load(path: &Path) -> Result<Target> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading kubeconfig {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, base).with_context(|| format!("kubeconfig {}", path.display()))
}

/// Parses kubeconfig text; relative file references resolve against `base`.
pub fn parse(text: &str, base: &Path) -> Result<Target> {
    let doc: Value = serde_yaml::from_str(text)?;
    let current = doc
        .get("current-context")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let context =
        named(&doc, "contexts", current, "context").or_else(|| first(&doc, "contexts", "context"));
    let cluster_name = context
        .and_then(|c| c.get("cluster"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let user_name = context
        .and_then(|c| c.get("user"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let cluster = named(&doc, "clusters", cluster_name, "cluster")
        .or_else(|| first(&doc, "clusters", "cluster"))
        .ok_or_else(|| anyhow!("no cluster"))?;
    let user = named(&doc, "users", user_name, "user").or_else(|| first(&doc, "users", "user"));

    let server = cluster
        .get("server")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("cluster has no server"))?;
    let mut t = Target {
        server: server.trim_end_matches('/').to_string(),
        ..Target::default()
    };
    t.insecure = cluster
        .get("insecure-skip-tls-verify")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    t.ca_pem = data_or_file(
        cluster,
        "certificate-authority-data",
        "certificate-authority",
        base,
    )?;
    if let Some(user) = user {
        t.token = user
            .get("token")
            .and_then(Value::as_str)
            .map(str::to_string);
        if t.token.is_none()
            && let Some(f) = user.get("tokenFile").and_then(Value::as_str)
        {
            let s =
                std::fs::read_to_string(base.join(f)).with_context(|| format!("token file {f}"))?;
            t.token = Some(s.trim().to_string());
        }
        let cert = data_or_file(user, "client-certificate-data", "client-certificate", base)?;
        let key = data_or_file(user, "client-key-data", "client-key", base)?;
        match (cert, key) {
            (Some(mut c), Some(k)) => {
                c.push(b'\n');
                c.extend_from_slice(&k);
                t.identity_pem = Some(c);
            }
            (None, None) => {}
            _ => bail!("user has a client certificate without a key or the other way round"),
        }
    }
    Ok(t)
}

/// The `inner` map of the entry named `name` in list `list`.
fn named<'a>(doc: &'a Value, list: &str, name: &str, inner: &str) -> Option<&'a Value> {
    doc.get(list)?
        .as_sequence()?
        .iter()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(name))
        .and_then(|e| e.get(inner))
}

/// The `inner` map of the first entry of `list`.
fn first<'a>(doc: &'a Value, list: &str, inner: &str) -> Option<&'a Value> {
    doc.get(list)?.as_sequence()?.first()?.get(inner)
}

/// Base64 `data_key` decoded, or the file named by `file_key` read.
fn data_or_file(
    map: &Value,
    data_key: &str,
    file_key: &str,
    base: &Path,
) -> Result<Option<Vec<u8>>> {
    if let Some(d) = map.get(data_key).and_then(Value::as_str) {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(d.trim())
            .with_context(|| format!("{data_key} is not base64"))?;
        return Ok(Some(bytes));
    }
    if let Some(f) = map.get(file_key).and_then(Value::as_str) {
        let bytes = std::fs::read(base.join(f)).with_context(|| format!("{file_key} {f}"))?;
        return Ok(Some(bytes));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_current_context() -> Result<()> {
        let text = "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster:\n    server: https://127.0.0.1:1/\n    certificate-authority-data: aGVsbG8=\ncontexts:\n- name: c\n  context: {cluster: a, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {token: t0k}\n";
        let t = parse(text, Path::new("."))?;
        assert_eq!(t.server, "https://127.0.0.1:1");
        assert_eq!(t.ca_pem.as_deref(), Some(&b"hello"[..]));
        assert_eq!(t.token.as_deref(), Some("t0k"));
        assert!(t.identity_pem.is_none());
        Ok(())
    }
}
