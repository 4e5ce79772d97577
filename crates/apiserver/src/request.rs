//! Parsing request paths and query options into what the handlers act on.

use std::collections::HashMap;

use rkube_api::{ResourceInfo, registry};

use crate::error::ApiError;

/// A request for a resource, parsed from its path.
#[derive(Debug, Clone)]
pub struct ResourceRequest {
    pub info: &'static ResourceInfo,
    /// Namespace from the path (`/namespaces/<ns>/…`), for namespaced resources.
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// What a path addresses.
#[derive(Debug, Clone)]
pub enum Target {
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`
    ResourceList {
        group: String,
        version: String,
    },
    Resource(ResourceRequest),
}

/// Parses an API path; `Ok(None)` for paths that are not API paths at all.
pub fn parse_path(path: &str) -> Result<Option<Target>, ApiError> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
        ["api"] => return Ok(Some(Target::CoreVersions)),
        ["apis"] => return Ok(Some(Target::Groups)),
        ["apis", g] => return Ok(Some(Target::Group(g.to_string()))),
        ["api", v, rest @ ..] => ("", v, rest),
        ["apis", g, v, rest @ ..] => (g, v, rest),
        _ => return Ok(None),
    };
    if registry::resources_of(group, version).next().is_none() {
        return Ok(None);
    }
    if rest.is_empty() {
        return Ok(Some(Target::ResourceList {
            group: group.into(),
            version: version.into(),
        }));
    }
    let (namespace, rest) = match rest {
        ["namespaces", ns, plural, more @ ..]
            if registry::find(group, version, plural).is_some_and(|r| r.namespaced) =>
        {
            (
                Some(ns.to_string()),
                std::iter::once(*plural)
                    .chain(more.iter().copied())
                    .collect::<Vec<_>>(),
            )
        }
        other => (None, other.to_vec()),
    };
    let Some(info) = registry::find(group, version, rest[0]) else {
        return Ok(None);
    };
    let name = rest.get(1).map(|s| s.to_string());
    let subresource = if rest.len() > 2 {
        Some(rest[2..].join("/"))
    } else {
        None
    };
    if let Some(sub) = &subresource {
        let top = sub.split('/').next().unwrap_or("");
        if !info.has_subresource(top) {
            return Ok(None);
        }
    }
    Ok(Some(Target::Resource(ResourceRequest {
        info,
        namespace,
        name,
        subresource,
    })))
}

/// Decoded query parameters.
#[derive(Debug, Clone, Default)]
pub struct Query(pub HashMap<String, String>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        Query(
            raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        )
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }

    /// A boolean option (`true`/`1`).
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1"))
    }

    /// An integer option; 400 when malformed.
    pub fn int(&self, k: &str) -> Result<Option<i64>, ApiError> {
        match self.get(k) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("invalid value for {k}: {v:?} is not an integer"))
            }),
        }
    }
}

/// How to treat unknown and duplicate fields in a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

/// Options every write takes.
#[derive(Debug, Clone, Copy)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_validation: FieldValidation,
}

impl WriteOptions {
    pub fn from_query(q: &Query) -> Result<Self, ApiError> {
        let dry_run = match q.0.get("dryRun").map(String::as_str) {
            None | Some("") => false,
            Some("All") => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid dry run value: {other}: supported values: \"All\""
                )));
            }
        };
        let field_validation = match q.get("fieldValidation") {
            None | Some("") | Some("Warn") => FieldValidation::Warn,
            Some("Ignore") => FieldValidation::Ignore,
            Some("Strict") => FieldValidation::Strict,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {other:?}"
                )));
            }
        };
        Ok(WriteOptions {
            dry_run,
            field_validation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourceRequest {
        match parse_path(path).unwrap() {
            Some(Target::Resource(r)) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn parses_resource_paths() {
        let r = res("/api/v1/namespaces/default/pods/web/status");
        assert_eq!(r.info.plural, "pods");
        assert_eq!(r.namespace.as_deref(), Some("default"));
        assert_eq!(r.name.as_deref(), Some("web"));
        assert_eq!(r.subresource.as_deref(), Some("status"));

        let r = res("/api/v1/namespaces/kube-system");
        assert_eq!(r.info.plural, "namespaces");
        assert_eq!(r.name.as_deref(), Some("kube-system"));

        let r = res("/api/v1/namespaces/x/status");
        assert_eq!(r.info.plural, "namespaces");
        assert_eq!(r.subresource.as_deref(), Some("status"));

        let r = res("/apis/apps/v1/deployments");
        assert!(r.namespace.is_none() && r.name.is_none());

        let r = res("/api/v1/namespaces/default/pods/web/proxy/some/path");
        assert_eq!(r.subresource.as_deref(), Some("proxy/some/path"));

        assert!(parse_path("/api/v1/widgets").unwrap().is_none());
        assert!(parse_path("/apis/nope/v1").unwrap().is_none());
        assert!(matches!(
            parse_path("/apis/apps/v1").unwrap(),
            Some(Target::ResourceList { .. })
        ));
    }
}
