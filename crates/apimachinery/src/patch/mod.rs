//! Applies JSON, JSON merge and strategic merge patches to objects, as the API server's PATCH verb does.

mod error;
mod json;
mod schema;
mod strategic;

pub use error::PatchError;
pub use schema::PatchMeta;

use rkube_api::ResourceInfo;
use serde_json::Value;

/// The patch formats PATCH accepts, named by their content types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatchType {
    /// RFC 6902 JSON patch (`application/json-patch+json`).
    Json,
    /// RFC 7386 JSON merge patch (`application/merge-patch+json`).
    Merge,
    /// Kubernetes strategic merge patch (`application/strategic-merge-patch+json`).
    StrategicMerge,
}

impl PatchType {
    /// Maps a `Content-Type` header value (parameters ignored) to a patch type.
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        match media.to_ascii_lowercase().as_str() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMerge),
            _ => None,
        }
    }

    /// The content type naming this patch format.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
        }
    }
}

/// Applies `patch` of format `ty` to `original`, an object of resource `info`.
pub fn apply_patch(
    original: &Value,
    patch: &[u8],
    ty: PatchType,
    info: &ResourceInfo,
) -> Result<Value, PatchError> {
    match ty {
        PatchType::Json => json::apply_json_patch(original, patch),
        PatchType::Merge => json::apply_merge_patch(original, patch),
        PatchType::StrategicMerge => {
            let patch = json::parse_patch_object(patch)?;
            strategic::strategic_merge(original, &patch, PatchMeta::for_resource(info))
        }
    }
}

/// Applies a parsed strategic merge patch to `original`, using the merge metadata of the
/// OpenAPI definition `definition` (e.g. `io.k8s.api.core.v1.Pod`).
pub fn apply_strategic_merge_patch(
    original: &Value,
    patch: &Value,
    definition: &str,
) -> Result<Value, PatchError> {
    strategic::strategic_merge(original, patch, PatchMeta::for_definition(definition))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
