//! The swagger 2.0 document served at `/openapi/v2`: every path and every definition.

use serde_json::{Map, Value, json};

use crate::params::{In, Param};
use crate::paths::{GroupVersion, Operation, PATCH_TYPES, PathItem, Payload};
use crate::refs::DEFINITIONS;
use crate::schemas::{Catalog, Defs, INT_OR_STRING, QUANTITY};

/// Builds the whole v2 document.
pub(crate) fn document(catalog: &Catalog, gvs: &[GroupVersion]) -> Value {
    let mut paths = Map::new();
    for item in gvs.iter().flat_map(|gv| &gv.items) {
        paths.insert(item.path.clone(), path_item(item));
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": crate::INFO_VERSION},
        "paths": paths,
        "definitions": definitions(&catalog.defs),
        "securityDefinitions": {
            "BearerToken": {
                "description": "Bearer Token authentication",
                "in": "header",
                "name": "authorization",
                "type": "apiKey"
            }
        },
        "security": [{"BearerToken": []}]
    })
}

/// The definitions with IntOrString and Quantity as swagger 2.0 strings.
fn definitions(defs: &Defs) -> Map<String, Value> {
    defs.iter()
        .map(|(name, def)| {
            let def = match name.as_str() {
                INT_OR_STRING => json!({
                    "description": def.get("description"),
                    "format": "int-or-string",
                    "type": "string"
                }),
                QUANTITY => json!({"description": def.get("description"), "type": "string"}),
                _ => def.clone(),
            };
            (name.clone(), def)
        })
        .collect()
}

fn path_item(item: &PathItem) -> Value {
    let mut out = Map::new();
    for op in &item.ops {
        out.insert(op.method.key().into(), operation(op));
    }
    if !item.params.is_empty() {
        out.insert("parameters".into(), item.params.iter().map(param).collect());
    }
    Value::Object(out)
}

fn param(p: &Param) -> Value {
    let mut out = json!({
        "description": p.description,
        "in": match p.location { In::Path => "path", In::Query => "query" },
        "name": p.name,
        "type": p.ty,
        "uniqueItems": true
    });
    if p.required {
        out["required"] = Value::Bool(true);
    }
    out
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("{DEFINITIONS}{name}")})
}

fn operation(op: &Operation) -> Value {
    let mut params: Vec<Value> = Vec::new();
    let mut consumes = vec!["*/*"];
    if let Some(body) = &op.body {
        params.push(json!({
            "in": "body",
            "name": "body",
            "required": body.required,
            "schema": schema_ref(&body.schema)
        }));
        if body.patch {
            consumes = PATCH_TYPES.to_vec();
        }
    }
    params.extend(op.params.iter().map(param));
    let mut responses = Map::new();
    for r in &op.responses {
        let mut resp = json!({"description": r.description});
        match &r.payload {
            Payload::Schema(name) => resp["schema"] = schema_ref(name),
            Payload::Text => resp["schema"] = json!({"type": "string"}),
            Payload::Empty => {}
        }
        responses.insert(r.code.into(), resp);
    }
    let mut out = json!({
        "consumes": consumes,
        "description": op.description,
        "operationId": op.id,
        "produces": op.media.types(),
        "responses": responses,
        "schemes": ["https"],
        "tags": [op.tag],
    });
    if !params.is_empty() {
        out["parameters"] = Value::Array(params);
    }
    if let Some(action) = op.action {
        out["x-kubernetes-action"] = action.into();
    }
    if let Some(gvk) = &op.gvk {
        out["x-kubernetes-group-version-kind"] =
            json!({"group": gvk.group, "kind": gvk.kind, "version": gvk.version});
    }
    out
}
