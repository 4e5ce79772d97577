//! One HTTP client (its own connections) to a target API server, with raw request helpers.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::{Body, Method, StatusCode};

use crate::kubeconfig::Target;

/// A client with its own connection pool: N of these model N independent clients.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    auth: Option<String>,
}

impl Api {
    /// Builds a new client (fresh connection pool) for `target`.
    pub fn new(target: &Target) -> Result<Api> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .user_agent("rkube-bench");
        if let Some(ca) = &target.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(ca).context("CA certificate")? {
                b = b.add_root_certificate(cert);
            }
        }
        if target.insecure {
            b = b.danger_accept_invalid_certs(true);
        }
        if let Some(id) = &target.identity_pem {
            b = b.identity(reqwest::Identity::from_pem(id).context("client certificate")?);
        }
        Ok(Api {
            http: b.build().context("building HTTP client")?,
            base: target.server.clone(),
            auth: target.token.as_ref().map(|t| format!("Bearer {t}")),
        })
    }

    /// `n` independent clients.
    pub fn many(target: &Target, n: usize) -> Result<Vec<Api>> {
        (0..n.max(1)).map(|_| Api::new(target)).collect()
    }

    /// A request builder for `path` (starting with `/`), with credentials.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(a) = &self.auth {
            r = r.header(reqwest::header::AUTHORIZATION, a);
        }
        r
    }

    /// POSTs a JSON body; returns the status (body drained).
    pub async fn post_json(&self, path: &str, body: impl Into<Body>) -> Result<StatusCode> {
        let resp = self
            .request(Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await?;
        let status = resp.status();
        resp.bytes().await?;
        Ok(status)
    }

    /// GETs `path`; returns the status and the whole body.
    pub async fn get(&self, path: &str) -> Result<(StatusCode, bytes::Bytes)> {
        let resp = self
            .request(Method::GET, path)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await?;
        let status = resp.status();
        Ok((status, resp.bytes().await?))
    }

    /// GETs `path` and fails unless 2xx.
    pub async fn get_ok(&self, path: &str) -> Result<bytes::Bytes> {
        let (status, body) = self.get(path).await?;
        if !status.is_success() {
            bail!(
                "GET {path}: {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
        }
        Ok(body)
    }

    /// DELETEs `path`; returns the status.
    pub async fn delete(&self, path: &str) -> Result<StatusCode> {
        let resp = self.request(Method::DELETE, path).send().await?;
        let status = resp.status();
        resp.bytes().await?;
        Ok(status)
    }
}

/// Creates namespace `name` (201, or 409 if it exists).
pub async fn create_namespace(api: &Api, name: &str) -> Result<()> {
    let body =
        format!(r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{name}"}}}}"#);
    let status = api.post_json("/api/v1/namespaces", body).await?;
    if !(status.is_success() || status == StatusCode::CONFLICT) {
        bail!("creating namespace {name}: {status}");
    }
    Ok(())
}
