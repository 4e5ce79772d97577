//! The OpenAPI 3.0 documents served at `/openapi/v3/<group-version>`, with the schemas their paths reach.

use serde_json::{Map, Value, json};

use crate::params::{In, Param};
use crate::paths::{GroupVersion, Operation, PATCH_TYPES, PathItem, Payload};
use crate::refs::{self, COMPONENTS, DEFINITIONS};
use crate::schemas::{Catalog, INT_OR_STRING, QUANTITY};

/// Builds the document of one group-version.
pub(crate) fn document(catalog: &Catalog, gv: &GroupVersion) -> Value {
    let mut paths = Map::new();
    for item in &gv.items {
        paths.insert(item.path.clone(), path_item(item));
    }
    let paths = Value::Object(paths);
    let names = refs::closure(&catalog.defs, &[&paths], DEFINITIONS);
    let mut schemas = Map::new();
    for name in names {
        if let Some(def) = catalog.defs.get(&name) {
            let def = match name.as_str() {
                INT_OR_STRING => json!({
                    "description": def.get("description"),
                    "format": "int-or-string",
                    "oneOf": [{"type": "integer"}, {"type": "string"}]
                }),
                QUANTITY => json!({
                    "description": def.get("description"),
                    "oneOf": [{"type": "string"}, {"type": "number"}]
                }),
                _ => def.clone(),
            };
            schemas.insert(name, def);
        }
    }
    let mut doc = json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": crate::INFO_VERSION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "BearerToken": {
                    "description": "Bearer Token authentication",
                    "in": "header",
                    "name": "authorization",
                    "type": "apiKey"
                }
            }
        },
        "security": [{"BearerToken": []}]
    });
    refs::rewrite(&mut doc, DEFINITIONS, COMPONENTS);
    refs::wrap_in_all_of(&mut doc);
    doc
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
        "schema": {"type": p.ty, "uniqueItems": true}
    });
    if p.required {
        out["required"] = Value::Bool(true);
    }
    out
}

fn content(types: &[&str], schema: &Value) -> Value {
    let map: Map<String, Value> = types
        .iter()
        .map(|t| (t.to_string(), json!({"schema": schema})))
        .collect();
    Value::Object(map)
}

fn operation(op: &Operation) -> Value {
    let mut responses = Map::new();
    for r in &op.responses {
        let mut resp = json!({"description": r.description});
        let schema = match &r.payload {
            Payload::Schema(name) => Some(json!({"$ref": format!("{DEFINITIONS}{name}")})),
            Payload::Text => Some(json!({"type": "string"})),
            Payload::Empty => None,
        };
        if let Some(schema) = schema {
            resp["content"] = content(op.media.types(), &schema);
        }
        responses.insert(r.code.into(), resp);
    }
    let mut out = json!({
        "description": op.description,
        "operationId": op.id,
        "responses": responses,
        "tags": [op.tag],
    });
    if !op.params.is_empty() {
        out["parameters"] = op.params.iter().map(param).collect();
    }
    if let Some(body) = &op.body {
        let schema = json!({"$ref": format!("{DEFINITIONS}{}", body.schema)});
        let types: &[&str] = if body.patch { PATCH_TYPES } else { &["*/*"] };
        let mut rb = json!({"content": content(types, &schema)});
        if body.required {
            rb["required"] = Value::Bool(true);
        }
        out["requestBody"] = rb;
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
