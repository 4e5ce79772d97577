//! Building kube-rs clients for agents joining a server.

use anyhow::{Context, Result};
use base64::Engine;

/// Fetches the cluster CA from the server's public `/cacerts` (as k3s agents do).
pub async fn fetch_ca(server: &str) -> Result<String> {
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .context("http client")?;
    let url = format!("{}/cacerts", server.trim_end_matches('/'));
    let resp = http
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    anyhow::ensure!(resp.status().is_success(), "GET {url}: {}", resp.status());
    let pem = resp.text().await.context("reading CA")?;
    anyhow::ensure!(
        pem.contains("BEGIN CERTIFICATE"),
        "{url} did not return a certificate"
    );
    Ok(pem)
}

/// A client for an agent: the server URL, its CA and the join token.
pub async fn for_agent(server: &str, token: &str) -> Result<kube::Client> {
    let ca = fetch_ca(server).await?;
    let ca_b64 = base64::engine::general_purpose::STANDARD.encode(ca);
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {ca_b64}\n    server: {server}\n  name: c\ncontexts:\n- context:\n    cluster: c\n    user: u\n  name: c\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: {token}\n"
    );
    let kc = kube::config::Kubeconfig::from_yaml(&yaml).context("agent kubeconfig")?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .context("agent config")?;
    kube::Client::try_from(cfg).context("building client")
}
