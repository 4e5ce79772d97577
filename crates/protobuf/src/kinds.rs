//! Maps an object's apiVersion and kind to the proto message of its raw bytes.

use crate::schema::Schema;

/// The proto package of meta/v1, the fallback for kinds every group serves (Status, DeleteOptions…).
const META_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";

/// The proto package that holds an API group's version.
fn package(group: &str, version: &str) -> String {
    let base = match group {
        "" | "core" => "k8s.io.api.core".to_string(),
        "meta.k8s.io" => "k8s.io.apimachinery.pkg.apis.meta".to_string(),
        "apiextensions.k8s.io" => {
            "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions".to_string()
        }
        "metrics.k8s.io" => "k8s.io.metrics.pkg.apis.metrics".to_string(),
        "custom.metrics.k8s.io" => "k8s.io.metrics.pkg.apis.custom_metrics".to_string(),
        "external.metrics.k8s.io" => "k8s.io.metrics.pkg.apis.external_metrics".to_string(),
        "internal.apiserver.k8s.io" => "k8s.io.api.apiserverinternal".to_string(),
        other => {
            let label = other.split('.').next().unwrap_or(other);
            format!("k8s.io.api.{label}")
        }
    };
    format!("{base}.{version}")
}

/// The full proto message name for `apiVersion` + `kind`, if the schema has one.
///
/// The group's own package is tried first, then meta/v1 (for Status, DeleteOptions,
/// WatchEvent and the other kinds every group version accepts).
pub fn message_for<'s>(schema: &'s Schema, api_version: &str, kind: &str) -> Option<&'s str> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    schema
        .canonical_name(&format!("{}.{kind}", package(group, version)))
        .or_else(|| schema.canonical_name(&format!("{META_V1}.{kind}")))
}
