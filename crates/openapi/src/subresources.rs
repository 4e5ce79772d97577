//! The operations of subresources: status, scale, binding, eviction, token, log, exec, proxy…

use crate::kinds::meta_name;
use crate::operations::{Ctx, body, gvk, responses};
use crate::params;
use crate::paths::{Media, Method, Operation, PathItem, Payload, capitalize};

/// The object a subresource reads and writes: (definition name, group, version, kind).
fn sub_object<'a>(cx: &'a Ctx, sub: &str) -> (String, &'a str, &'a str, &'a str) {
    match sub {
        "scale" => (
            "io.k8s.api.autoscaling.v1.Scale".into(),
            "autoscaling",
            "v1",
            "Scale",
        ),
        "binding" => ("io.k8s.api.core.v1.Binding".into(), "", "v1", "Binding"),
        "eviction" => (
            "io.k8s.api.policy.v1.Eviction".into(),
            "policy",
            "v1",
            "Eviction",
        ),
        "token" => (
            "io.k8s.api.authentication.v1.TokenRequest".into(),
            "authentication.k8s.io",
            "v1",
            "TokenRequest",
        ),
        _ => (cx.def.clone(), cx.r.group, cx.r.version, cx.r.kind),
    }
}

/// The path items of subresource `sub` of the item path `item`.
pub(crate) fn items(cx: &Ctx, item: &str, sub: &str) -> Vec<PathItem> {
    let r = cx.r;
    let path = format!("{item}/{sub}");
    let suffix = capitalize(sub);
    let (def, g, v, k) = sub_object(cx, sub);
    let payload = Payload::Schema(def.clone());
    let with_gvk = |mut op: Operation| {
        op.gvk = Some(gvk(g, v, k));
        op
    };
    let mut ops = Vec::new();
    match sub {
        "status" | "scale" | "ephemeralcontainers" | "resize" => {
            if r.has_verb("get") {
                let mut op = cx.op(
                    Method::Get,
                    cx.id("read", &suffix),
                    format!("read {sub} of the specified {}", r.kind),
                    "get",
                );
                op.responses = responses(&["200"], &payload);
                ops.push(with_gvk(op));
            }
            if r.has_verb("update") {
                let mut op = cx.op(
                    Method::Put,
                    cx.id("replace", &suffix),
                    format!("replace {sub} of the specified {}", r.kind),
                    "put",
                );
                op.params = params::queries(params::WRITE);
                op.body = body(&def, false, true);
                op.responses = responses(&["200", "201"], &payload);
                ops.push(with_gvk(op));
            }
            if r.has_verb("patch") {
                let mut op = cx.op(
                    Method::Patch,
                    cx.id("patch", &suffix),
                    format!("partially update {sub} of the specified {}", r.kind),
                    "patch",
                );
                op.params = params::queries(params::PATCH);
                op.body = body(&meta_name("Patch"), true, true);
                op.responses = responses(&["200", "201"], &payload);
                ops.push(with_gvk(op));
            }
        }
        "binding" | "eviction" | "token" => {
            let mut op = cx.op(
                Method::Post,
                cx.id("create", &suffix),
                format!("create {sub} of a {}", r.kind),
                "post",
            );
            op.params = params::queries(params::WRITE);
            op.body = body(&def, false, true);
            op.responses = responses(&["200", "201", "202"], &payload);
            ops.push(with_gvk(op));
        }
        "finalize" => {
            let mut op = cx.op(
                Method::Put,
                cx.id("replace", &suffix),
                format!("replace finalize of the specified {}", r.kind),
                "put",
            );
            op.params = params::queries(params::WRITE);
            op.body = body(&def, false, true);
            op.responses = responses(&["200", "201"], &payload);
            ops.push(op);
        }
        "log" => {
            let mut op = cx.op(
                Method::Get,
                cx.id("read", &suffix),
                format!("read log of the specified {}", r.kind),
                "get",
            );
            op.responses = responses(&["200"], &Payload::Text);
            op.media = Media::Text;
            ops.push(op);
            let mut shared = params::queries(params::LOG);
            shared.extend(cx.item_params(r.kind));
            return vec![PathItem {
                path,
                params: shared,
                ops,
            }];
        }
        "exec" | "attach" | "portforward" => {
            let options = match sub {
                "exec" => "PodExecOptions",
                "attach" => "PodAttachOptions",
                _ => "PodPortForwardOptions",
            };
            let names = match sub {
                "exec" => params::EXEC,
                "attach" => params::ATTACH,
                _ => params::PORT_FORWARD,
            };
            let ops = connect_ops(cx, &suffix, options, &[Method::Get, Method::Post]);
            let mut shared = params::queries(names);
            shared.extend(cx.item_params(options));
            shared.retain(|p| p.name != "pretty");
            shared.sort_by_key(|p| p.name);
            return vec![PathItem {
                path,
                params: shared,
                ops,
            }];
        }
        "proxy" => {
            let options = format!("{}ProxyOptions", r.kind);
            let methods = [
                Method::Delete,
                Method::Get,
                Method::Head,
                Method::Options,
                Method::Patch,
                Method::Post,
                Method::Put,
            ];
            let mut shared = cx.item_params(&options);
            shared.push(params::query("path"));
            shared.retain(|p| p.name != "pretty");
            let mut with_path = cx.item_params(&options);
            with_path.retain(|p| p.name != "pretty");
            with_path.push(params::path("path", "path to the resource".into()));
            return vec![
                PathItem {
                    path: path.clone(),
                    params: shared,
                    ops: connect_ops(cx, &suffix, &options, &methods),
                },
                PathItem {
                    path: format!("{path}/{{path}}"),
                    params: with_path,
                    ops: connect_ops(cx, &format!("{suffix}WithPath"), &options, &methods),
                },
            ];
        }
        _ => {}
    }
    vec![PathItem {
        path,
        params: cx.item_params(r.kind),
        ops,
    }]
}

fn connect_ops(cx: &Ctx, suffix: &str, options: &str, methods: &[Method]) -> Vec<Operation> {
    methods
        .iter()
        .map(|m| {
            let id = format!(
                "connect{}{}{}{}{suffix}",
                cx.gv,
                m.camel(),
                cx.scope,
                cx.r.kind
            );
            let mut op = cx.op(
                *m,
                id,
                format!(
                    "connect {} requests to {} of {}",
                    m.key().to_uppercase(),
                    suffix.to_lowercase(),
                    cx.r.kind
                ),
                "connect",
            );
            op.gvk = Some(gvk(cx.r.group, cx.r.version, options));
            op.responses = responses(&["200"], &Payload::Text);
            op.media = Media::Any;
            op
        })
        .collect()
}
