//! The operations upstream serves for one resource: collection, item, watch and subresource paths.

use rkube_api::ResourceInfo;

use crate::kinds::meta_name;
use crate::params::{self, Param};
use crate::paths::{
    Body, Gvk, Media, Method, Operation, PathItem, Payload, Response, gv_camel, tag, unauthorized,
};
use crate::subresources;

/// Naming shared by the operations of one resource.
pub(crate) struct Ctx<'a> {
    pub r: &'a ResourceInfo,
    /// `CoreV1`.
    pub gv: String,
    /// `Namespaced` or empty.
    pub scope: &'static str,
    /// Definition name of the kind.
    pub def: String,
    pub tag: String,
}

impl Ctx<'_> {
    fn gvk(&self) -> Gvk {
        gvk(self.r.group, self.r.version, self.r.kind)
    }

    /// An operation id such as `readCoreV1NamespacedPodStatus`.
    pub fn id(&self, verb: &str, suffix: &str) -> String {
        format!("{verb}{}{}{}{suffix}", self.gv, self.scope, self.r.kind)
    }

    pub fn op(
        &self,
        method: Method,
        id: String,
        description: String,
        action: &'static str,
    ) -> Operation {
        Operation {
            method,
            id,
            description,
            action: Some(action),
            gvk: Some(self.gvk()),
            params: Vec::new(),
            body: None,
            responses: Vec::new(),
            media: Media::Object,
            tag: self.tag.clone(),
        }
    }

    /// The path parameters of the collection path (`namespace`, `pretty`).
    fn collection_params(&self) -> Vec<Param> {
        let mut out = Vec::new();
        if self.r.namespaced {
            out.push(params::namespace());
        }
        out.push(params::query("pretty"));
        out
    }

    /// The path parameters of the item path (`name`, `namespace`, `pretty`).
    pub fn item_params(&self, kind: &str) -> Vec<Param> {
        let mut out = vec![params::name_of(kind)];
        out.extend(self.collection_params());
        out
    }
}

pub(crate) fn gvk(group: &str, version: &str, kind: &str) -> Gvk {
    Gvk {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
    }
}

pub(crate) fn responses(codes: &[&'static str], payload: &Payload) -> Vec<Response> {
    let mut out: Vec<Response> = codes
        .iter()
        .map(|code| Response {
            code,
            description: match *code {
                "201" => "Created",
                "202" => "Accepted",
                _ => "OK",
            },
            payload: payload.clone(),
        })
        .collect();
    out.push(unauthorized());
    out
}

pub(crate) fn body(schema: &str, patch: bool, required: bool) -> Option<Body> {
    Some(Body {
        schema: schema.to_string(),
        patch,
        required,
    })
}

/// Every path item of resource `r`.
pub(crate) fn resource_items(r: &ResourceInfo) -> Vec<PathItem> {
    let cx = Ctx {
        r,
        gv: gv_camel(r.group, r.version),
        scope: if r.namespaced { "Namespaced" } else { "" },
        def: r.openapi_name(),
        tag: tag(r.group, r.version),
    };
    let prefix = r.url_prefix();
    let collection = if r.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
    } else {
        format!("{prefix}/{}", r.plural)
    };
    let item = format!("{collection}/{{name}}");
    let mut out = vec![collection_item(&cx, &collection), item_item(&cx, &item)];
    if r.namespaced && r.has_verb("list") {
        out.push(all_namespaces_item(&cx, &format!("{prefix}/{}", r.plural)));
    }
    if r.has_verb("watch") {
        out.extend(watch_items(&cx, &prefix));
    }
    for sub in r.subresources {
        out.extend(subresources::items(&cx, &item, sub));
    }
    out.retain(|i| !i.ops.is_empty());
    out
}

fn collection_item(cx: &Ctx, path: &str) -> PathItem {
    let r = cx.r;
    let kind_payload = Payload::Schema(cx.def.clone());
    let mut ops = Vec::new();
    if r.has_verb("list") {
        let mut op = cx.op(
            Method::Get,
            cx.id("list", ""),
            format!("list or watch objects of kind {}", r.kind),
            "list",
        );
        op.params = params::queries(params::LIST);
        op.responses = responses(&["200"], &Payload::Schema(format!("{}List", cx.def)));
        op.media = Media::Stream;
        ops.push(op);
    }
    if r.has_verb("create") {
        let mut op = cx.op(
            Method::Post,
            cx.id("create", ""),
            format!("create a {}", r.kind),
            "post",
        );
        op.params = params::queries(params::WRITE);
        op.body = body(&cx.def, false, true);
        op.responses = responses(&["200", "201", "202"], &kind_payload);
        ops.push(op);
    }
    if r.has_verb("deletecollection") {
        let id = format!("delete{}Collection{}{}", cx.gv, cx.scope, r.kind);
        let mut op = cx.op(
            Method::Delete,
            id,
            format!("delete collection of {}", r.kind),
            "deletecollection",
        );
        op.params = params::queries(params::DELETE_COLLECTION);
        op.body = body(&meta_name("DeleteOptions"), false, false);
        op.responses = responses(&["200"], &Payload::Schema(meta_name("Status")));
        ops.push(op);
    }
    PathItem {
        path: path.to_string(),
        params: cx.collection_params(),
        ops,
    }
}

fn item_item(cx: &Ctx, path: &str) -> PathItem {
    let r = cx.r;
    let kind_payload = Payload::Schema(cx.def.clone());
    let mut ops = Vec::new();
    if r.has_verb("get") {
        let mut op = cx.op(
            Method::Get,
            cx.id("read", ""),
            format!("read the specified {}", r.kind),
            "get",
        );
        op.responses = responses(&["200"], &kind_payload);
        ops.push(op);
    }
    if r.has_verb("update") {
        let mut op = cx.op(
            Method::Put,
            cx.id("replace", ""),
            format!("replace the specified {}", r.kind),
            "put",
        );
        op.params = params::queries(params::WRITE);
        op.body = body(&cx.def, false, true);
        op.responses = responses(&["200", "201"], &kind_payload);
        ops.push(op);
    }
    if r.has_verb("patch") {
        let mut op = cx.op(
            Method::Patch,
            cx.id("patch", ""),
            format!("partially update the specified {}", r.kind),
            "patch",
        );
        op.params = params::queries(params::PATCH);
        op.body = body(&meta_name("Patch"), true, true);
        op.responses = responses(&["200", "201"], &kind_payload);
        ops.push(op);
    }
    if r.has_verb("delete") {
        let mut op = cx.op(
            Method::Delete,
            cx.id("delete", ""),
            format!("delete a {}", r.kind),
            "delete",
        );
        op.params = params::queries(params::DELETE);
        op.body = body(&meta_name("DeleteOptions"), false, false);
        op.responses = responses(&["200", "202"], &Payload::Schema(meta_name("Status")));
        ops.push(op);
    }
    PathItem {
        path: path.to_string(),
        params: cx.item_params(r.kind),
        ops,
    }
}

fn all_namespaces_item(cx: &Ctx, path: &str) -> PathItem {
    let r = cx.r;
    let id = format!("list{}{}ForAllNamespaces", cx.gv, r.kind);
    let mut op = cx.op(
        Method::Get,
        id,
        format!("list or watch objects of kind {}", r.kind),
        "list",
    );
    op.responses = responses(&["200"], &Payload::Schema(format!("{}List", cx.def)));
    op.media = Media::Stream;
    let mut shared = params::queries(params::LIST);
    shared.push(params::query("pretty"));
    PathItem {
        path: path.to_string(),
        params: shared,
        ops: vec![op],
    }
}

fn watch_items(cx: &Ctx, prefix: &str) -> Vec<PathItem> {
    let r = cx.r;
    let deprecated = "deprecated: use the 'watch' parameter with a list operation instead";
    let watch = |path: String,
                 id: String,
                 description: String,
                 action: &'static str,
                 mut shared: Vec<Param>| {
        let mut op = cx.op(Method::Get, id, description, action);
        op.responses = responses(&["200"], &Payload::Schema(meta_name("WatchEvent")));
        op.media = Media::Stream;
        shared.extend(params::queries(params::LIST));
        shared.sort_by_key(|p| p.name);
        PathItem {
            path,
            params: shared,
            ops: vec![op],
        }
    };
    let collection = if r.namespaced {
        format!("{prefix}/watch/namespaces/{{namespace}}/{}", r.plural)
    } else {
        format!("{prefix}/watch/{}", r.plural)
    };
    let mut out = vec![
        watch(
            collection.clone(),
            cx.id("watch", "List"),
            format!(
                "watch individual changes to a list of {}. {deprecated}.",
                r.kind
            ),
            "watchlist",
            cx.collection_params(),
        ),
        watch(
            format!("{collection}/{{name}}"),
            cx.id("watch", ""),
            format!(
                "watch changes to an object of kind {}. {deprecated}, filtered to a single item with the 'fieldSelector' parameter.",
                r.kind
            ),
            "watch",
            cx.item_params(r.kind),
        ),
    ];
    if r.namespaced {
        out.push(watch(
            format!("{prefix}/watch/{}", r.plural),
            format!("watch{}{}ListForAllNamespaces", cx.gv, r.kind),
            format!(
                "watch individual changes to a list of {}. {deprecated}.",
                r.kind
            ),
            "watchlist",
            vec![params::query("pretty")],
        ));
    }
    out
}
