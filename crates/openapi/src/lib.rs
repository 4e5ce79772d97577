//! OpenAPI v2 and v3 documents for the served resources, generated lazily and cached.
//!
//! Component schemas come from k8s-openapi (whose schema names are upstream's definition
//! names), decorated with `x-kubernetes-group-version-kind`, list kinds and the patch
//! metadata kubectl needs; paths and operations come from [`rkube_api::RESOURCES`].

mod extensions;
mod kinds;
mod operations;
mod params;
mod paths;
mod refs;
mod schemas;
mod subresources;
mod v2;
mod v2_proto;
mod v3;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use bytes::Bytes;
use serde_json::{Map, Value, json};

/// `info.version` of the documents.
pub const INFO_VERSION: &str = "v1.33.0";

/// Errors building the documents.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("parsing the list merge strategies table")]
    Strategies(#[source] serde_json::Error),
    #[error("serializing the {doc} document")]
    Serialize {
        doc: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Everything built on first use.
struct Built {
    v2: Bytes,
    v3_index: Vec<u8>,
    /// Group-version path (`api/v1`) → (document, hash).
    v3: BTreeMap<String, (Vec<u8>, String)>,
}

static BUILT: OnceLock<Built> = OnceLock::new();

fn built() -> &'static Built {
    BUILT.get_or_init(|| {
        build().unwrap_or_else(|_| Built {
            v2: Bytes::from_static(b"{}"),
            v3_index: b"{\"paths\":{}}".to_vec(),
            v3: BTreeMap::new(),
        })
    })
}

fn to_vec(doc: &str, value: &Value) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|source| Error::Serialize {
        doc: doc.to_string(),
        source,
    })
}

/// SHA-512 of `body` in upper-case hex, as upstream advertises OpenAPI v3 documents.
fn hash(body: &[u8]) -> String {
    use std::fmt::Write;
    let digest = ring::digest::digest(&ring::digest::SHA512, body);
    digest
        .as_ref()
        .iter()
        .fold(String::with_capacity(128), |mut s, b| {
            let _ = write!(s, "{b:02X}");
            s
        })
}

fn build() -> Result<Built, Error> {
    let catalog = schemas::build()?;
    let gvs = paths::group_versions();
    let v2 = Bytes::from(to_vec("v2", &v2::document(&catalog, &gvs))?);
    let mut v3 = BTreeMap::new();
    let mut index = Map::new();
    for gv in &gvs {
        let body = to_vec(&gv.key, &v3::document(&catalog, gv))?;
        let h = hash(&body);
        index.insert(
            gv.key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{}?hash={h}", gv.key)}),
        );
        v3.insert(gv.key.clone(), (body, h));
    }
    let v3_index = to_vec("v3 index", &json!({"paths": index}))?;
    Ok(Built { v2, v3_index, v3 })
}

/// GET /openapi/v2 (JSON). Built on first call, then cached.
pub fn v2_document() -> &'static Bytes {
    &built().v2
}

static V2_PROTO: OnceLock<Bytes> = OnceLock::new();

/// The `Content-Type` of [`v2_document_protobuf`] (the dotted form: Go's mime parser rejects `@`).
pub const V2_PROTOBUF_CONTENT_TYPE: &str =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// GET /openapi/v2 with `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`
/// (what client-go's `OpenAPISchema` asks for): the same document as gnostic's protobuf.
pub fn v2_document_protobuf() -> &'static Bytes {
    V2_PROTO.get_or_init(|| {
        let doc: Value = serde_json::from_slice(v2_document()).unwrap_or(Value::Null);
        Bytes::from(v2_proto::encode(&doc))
    })
}

/// GET /openapi/v3: `{"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=<HASH>"}, …}}`.
pub fn v3_index() -> &'static [u8] {
    &built().v3_index
}

/// GET /openapi/v3/<path> for a path like `api/v1` or `apis/apps/v1`; `None` → 404.
pub fn v3_group_version(path: &str) -> Option<&'static [u8]> {
    built().v3.get(path).map(|(body, _)| body.as_slice())
}

/// The hash the index advertises for a group-version path (use it as the ETag).
pub fn v3_hash(path: &str) -> Option<&'static str> {
    built().v3.get(path).map(|(_, h)| h.as_str())
}

/// The group-version paths the v3 index lists (`api/v1`, `apis/apps/v1`, …).
pub fn v3_paths() -> impl Iterator<Item = &'static str> {
    built().v3.keys().map(String::as_str)
}
