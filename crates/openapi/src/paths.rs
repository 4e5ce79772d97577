//! The REST paths and operations of every served group-version, in a form both renderers turn into JSON.

use rkube_api::{RESOURCES, ResourceInfo};

use crate::kinds::meta_name;
use crate::operations;
use crate::params::Param;

/// An HTTP method of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Put,
    Post,
    Patch,
    Delete,
    Head,
    Options,
}

impl Method {
    /// The key of the operation in a path item.
    pub fn key(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Put => "put",
            Method::Post => "post",
            Method::Patch => "patch",
            Method::Delete => "delete",
            Method::Head => "head",
            Method::Options => "options",
        }
    }

    /// `Get`, `Post`… as upstream spells the method inside connect operation ids.
    pub fn camel(self) -> &'static str {
        match self {
            Method::Get => "Get",
            Method::Put => "Put",
            Method::Post => "Post",
            Method::Patch => "Patch",
            Method::Delete => "Delete",
            Method::Head => "Head",
            Method::Options => "Options",
        }
    }
}

/// What a response or request body carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Payload {
    /// An object of the named definition.
    Schema(String),
    /// A plain string (logs, connect streams).
    Text,
    /// Nothing (401).
    Empty,
}

/// The media types an operation produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Media {
    /// JSON, YAML and protobuf.
    Object,
    /// Object media plus their watch streams.
    Stream,
    /// `text/plain`.
    Text,
    /// `*/*`.
    Any,
}

impl Media {
    /// The media types, sorted as upstream lists them.
    pub fn types(self) -> &'static [&'static str] {
        match self {
            Media::Object => &[
                "application/json",
                "application/yaml",
                "application/vnd.kubernetes.protobuf",
            ],
            Media::Stream => &[
                "application/json",
                "application/yaml",
                "application/vnd.kubernetes.protobuf",
                "application/json;stream=watch",
                "application/vnd.kubernetes.protobuf;stream=watch",
            ],
            Media::Text => &["text/plain"],
            Media::Any => &["*/*"],
        }
    }
}

/// The media types a PATCH body may have.
pub(crate) const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

/// A request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Body {
    /// Definition name of the body.
    pub schema: String,
    /// Whether it is a patch (typed by [`PATCH_TYPES`]).
    pub patch: bool,
    pub required: bool,
}

/// One response of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub code: &'static str,
    pub description: &'static str,
    pub payload: Payload,
}

/// A group/version/kind, as the `x-kubernetes-group-version-kind` operation extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

/// One operation of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Operation {
    pub method: Method,
    pub id: String,
    pub description: String,
    /// `x-kubernetes-action`: get, list, post, put, patch, delete, deletecollection, watch,
    /// watchlist, connect; absent for discovery.
    pub action: Option<&'static str>,
    pub gvk: Option<Gvk>,
    pub params: Vec<Param>,
    pub body: Option<Body>,
    pub responses: Vec<Response>,
    pub media: Media,
    pub tag: String,
}

/// A path and its operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathItem {
    pub path: String,
    /// Parameters shared by every operation of the path.
    pub params: Vec<Param>,
    pub ops: Vec<Operation>,
}

/// The paths of one group-version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupVersion {
    /// `api/v1` or `apis/<group>/<version>`: the key of the v3 index.
    pub key: String,
    pub items: Vec<PathItem>,
}

/// `CoreV1`, `AppsV1`, `RbacAuthorizationV1`: the group-version part of operation ids.
pub(crate) fn gv_camel(group: &str, version: &str) -> String {
    let group = if group.is_empty() { "core" } else { group };
    let mut out: String = group
        .trim_end_matches(".k8s.io")
        .split(['.', '-'])
        .map(capitalize)
        .collect();
    out.push_str(&capitalize(version));
    out
}

/// `core_v1`, `rbacAuthorization_v1`: the tag of a group-version's operations.
pub(crate) fn tag(group: &str, version: &str) -> String {
    let camel = gv_camel(group, "");
    let mut chars = camel.chars();
    let head = chars.next().map(|c| c.to_ascii_lowercase());
    format!(
        "{}{}_{version}",
        head.map(String::from).unwrap_or_default(),
        chars.as_str()
    )
}

/// Upper-cases the first letter.
pub(crate) fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// Every served group-version with its paths, in discovery order.
pub(crate) fn group_versions() -> Vec<GroupVersion> {
    let mut out: Vec<GroupVersion> = Vec::new();
    for r in RESOURCES {
        let key = r.url_prefix().trim_start_matches('/').to_string();
        let gv = match out.iter().position(|gv| gv.key == key) {
            Some(i) => &mut out[i],
            None => {
                out.push(GroupVersion {
                    key,
                    items: vec![discovery_item(r)],
                });
                let last = out.len() - 1;
                &mut out[last]
            }
        };
        gv.items.extend(operations::resource_items(r));
    }
    for gv in &mut out {
        gv.items.sort_by(|a, b| a.path.cmp(&b.path));
    }
    out
}

fn discovery_item(r: &ResourceInfo) -> PathItem {
    PathItem {
        path: format!("{}/", r.url_prefix()),
        params: Vec::new(),
        ops: vec![Operation {
            method: Method::Get,
            id: format!("get{}APIResources", gv_camel(r.group, r.version)),
            description: "get available resources".into(),
            action: None,
            gvk: None,
            params: Vec::new(),
            body: None,
            responses: vec![
                Response {
                    code: "200",
                    description: "OK",
                    payload: Payload::Schema(meta_name("APIResourceList")),
                },
                unauthorized(),
            ],
            media: Media::Object,
            tag: tag(r.group, r.version),
        }],
    }
}

/// The 401 response every operation lists.
pub(crate) fn unauthorized() -> Response {
    Response {
        code: "401",
        description: "Unauthorized",
        payload: Payload::Empty,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(gv_camel("", "v1"), "CoreV1");
        assert_eq!(
            gv_camel("rbac.authorization.k8s.io", "v1"),
            "RbacAuthorizationV1"
        );
        assert_eq!(gv_camel("autoscaling", "v2"), "AutoscalingV2");
        assert_eq!(
            tag("rbac.authorization.k8s.io", "v1"),
            "rbacAuthorization_v1"
        );
        assert_eq!(tag("", "v1"), "core_v1");
    }

    #[test]
    fn operation_ids_are_unique() {
        let mut ids = std::collections::BTreeSet::new();
        for gv in group_versions() {
            for item in gv.items {
                for op in item.ops {
                    assert!(ids.insert(op.id.clone()), "{} twice", op.id);
                }
            }
        }
    }
}
