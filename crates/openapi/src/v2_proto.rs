//! Encodes the swagger 2.0 JSON document as gnostic's `openapi.v2.Document` protobuf, as client-go fetches it.

use serde_json::{Map, Value};

/// A protobuf message being written.
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    /// A proto3 string: empty strings are not written.
    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    fn bool(&mut self, field: u32, b: bool) {
        if b {
            self.key(field, 0);
            self.varint(1);
        }
    }

    fn int64(&mut self, field: u32, v: i64) {
        if v != 0 {
            self.key(field, 0);
            self.varint(v as u64);
        }
    }

    fn double(&mut self, field: u32, v: f64) {
        if v != 0.0 {
            self.key(field, 1);
            self.0.extend_from_slice(&v.to_le_bytes());
        }
    }

    fn message(&mut self, field: u32, m: Msg) {
        self.bytes(field, &m.0);
    }
}

fn str_of<'a>(obj: &'a Map<String, Value>, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn strings(m: &mut Msg, field: u32, v: Option<&Value>) {
    for s in v.and_then(Value::as_array).into_iter().flatten() {
        if let Some(s) = s.as_str() {
            m.bytes(field, s.as_bytes());
        }
    }
}

/// `Any { yaml }`: JSON text is YAML.
fn any(v: &Value) -> Msg {
    let mut m = Msg::default();
    m.string(2, &v.to_string());
    m
}

/// `NamedAny` entries for the `x-` keys of `obj`.
fn vendor_extensions(m: &mut Msg, field: u32, obj: &Map<String, Value>) {
    for (k, v) in obj.iter().filter(|(k, _)| k.starts_with("x-")) {
        let mut named = Msg::default();
        named.string(1, k);
        named.message(2, any(v));
        m.message(field, named);
    }
}

/// Encodes a swagger 2.0 document.
pub(crate) fn encode(doc: &Value) -> Vec<u8> {
    let Some(doc) = doc.as_object() else {
        return Vec::new();
    };
    let mut m = Msg::default();
    m.string(1, str_of(doc, "swagger"));
    if let Some(info) = doc.get("info").and_then(Value::as_object) {
        let mut i = Msg::default();
        i.string(1, str_of(info, "title"));
        i.string(2, str_of(info, "version"));
        m.message(2, i);
    }
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        let mut p = Msg::default();
        for (path, item) in paths {
            let mut named = Msg::default();
            named.string(1, path);
            named.message(2, path_item(item));
            p.message(2, named);
        }
        m.message(8, p);
    }
    if let Some(defs) = doc.get("definitions").and_then(Value::as_object) {
        m.message(9, named_schemas(defs));
    }
    for req in doc
        .get("security")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut r = Msg::default();
        for (name, scopes) in req.as_object().into_iter().flatten() {
            let mut named = Msg::default();
            named.string(1, name);
            let mut arr = Msg::default();
            strings(&mut arr, 1, Some(scopes));
            named.message(2, arr);
            r.message(1, named);
        }
        m.message(12, r);
    }
    if let Some(defs) = doc.get("securityDefinitions").and_then(Value::as_object) {
        let mut d = Msg::default();
        for (name, def) in defs {
            let Some(def) = def.as_object() else { continue };
            let mut key = Msg::default();
            key.string(1, str_of(def, "type"));
            key.string(2, str_of(def, "name"));
            key.string(3, str_of(def, "in"));
            key.string(4, str_of(def, "description"));
            let mut item = Msg::default();
            item.message(2, key);
            let mut named = Msg::default();
            named.string(1, name);
            named.message(2, item);
            d.message(1, named);
        }
        m.message(13, d);
    }
    m.0
}

fn path_item(item: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(item) = item.as_object() else {
        return m;
    };
    for (method, field) in [
        ("get", 2),
        ("put", 3),
        ("post", 4),
        ("delete", 5),
        ("options", 6),
        ("head", 7),
        ("patch", 8),
    ] {
        if let Some(op) = item.get(method).and_then(Value::as_object) {
            m.message(field, operation(op));
        }
    }
    parameters(&mut m, 9, item.get("parameters"));
    m
}

fn operation(op: &Map<String, Value>) -> Msg {
    let mut m = Msg::default();
    strings(&mut m, 1, op.get("tags"));
    m.string(3, str_of(op, "description"));
    m.string(5, str_of(op, "operationId"));
    strings(&mut m, 6, op.get("produces"));
    strings(&mut m, 7, op.get("consumes"));
    parameters(&mut m, 8, op.get("parameters"));
    if let Some(responses) = op.get("responses").and_then(Value::as_object) {
        let mut rs = Msg::default();
        for (code, resp) in responses {
            let Some(resp) = resp.as_object() else {
                continue;
            };
            let mut r = Msg::default();
            r.string(1, str_of(resp, "description"));
            if let Some(schema) = resp.get("schema") {
                let mut item = Msg::default();
                item.message(1, self::schema(schema));
                r.message(2, item);
            }
            let mut value = Msg::default();
            value.message(1, r);
            let mut named = Msg::default();
            named.string(1, code);
            named.message(2, value);
            rs.message(1, named);
        }
        m.message(9, rs);
    }
    strings(&mut m, 10, op.get("schemes"));
    vendor_extensions(&mut m, 13, op);
    m
}

fn parameters(m: &mut Msg, field: u32, params: Option<&Value>) {
    for p in params.and_then(Value::as_array).into_iter().flatten() {
        let Some(p) = p.as_object() else { continue };
        let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
        let mut param = Msg::default();
        if str_of(p, "in") == "body" {
            let mut b = Msg::default();
            b.string(1, str_of(p, "description"));
            b.string(2, str_of(p, "name"));
            b.string(3, "body");
            b.bool(4, required);
            if let Some(s) = p.get("schema") {
                b.message(5, schema(s));
            }
            param.message(1, b);
        } else {
            // Query and path sub-schemas share the first fields; `type` and `uniqueItems` differ.
            let query = str_of(p, "in") != "path";
            let mut s = Msg::default();
            s.bool(1, required);
            s.string(2, str_of(p, "in"));
            s.string(3, str_of(p, "description"));
            s.string(4, str_of(p, "name"));
            s.string(if query { 6 } else { 5 }, str_of(p, "type"));
            let unique = p
                .get("uniqueItems")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            s.bool(if query { 20 } else { 19 }, unique);
            let mut non_body = Msg::default();
            non_body.message(if query { 3 } else { 4 }, s);
            param.message(2, non_body);
        }
        let mut item = Msg::default();
        item.message(1, param);
        m.message(field, item);
    }
}

fn named_schemas(map: &Map<String, Value>) -> Msg {
    let mut m = Msg::default();
    for (name, s) in map {
        let mut named = Msg::default();
        named.string(1, name);
        named.message(2, schema(s));
        m.message(1, named);
    }
    m
}

fn schema(s: &Value) -> Msg {
    let mut m = Msg::default();
    let Some(s) = s.as_object() else {
        return m;
    };
    m.string(1, str_of(s, "$ref"));
    m.string(2, str_of(s, "format"));
    m.string(3, str_of(s, "title"));
    m.string(4, str_of(s, "description"));
    if let Some(d) = s.get("default") {
        m.message(5, any(d));
    }
    let num = |k: &str| s.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let int = |k: &str| s.get(k).and_then(Value::as_i64).unwrap_or(0);
    let flag = |k: &str| s.get(k).and_then(Value::as_bool).unwrap_or(false);
    m.double(6, num("multipleOf"));
    m.double(7, num("maximum"));
    m.bool(8, flag("exclusiveMaximum"));
    m.double(9, num("minimum"));
    m.bool(10, flag("exclusiveMinimum"));
    m.int64(11, int("maxLength"));
    m.int64(12, int("minLength"));
    m.string(13, str_of(s, "pattern"));
    m.int64(14, int("maxItems"));
    m.int64(15, int("minItems"));
    m.bool(16, flag("uniqueItems"));
    m.int64(17, int("maxProperties"));
    m.int64(18, int("minProperties"));
    strings(&mut m, 19, s.get("required"));
    for e in s
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(20, any(e));
    }
    match s.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut a = Msg::default();
            a.key(2, 0);
            a.varint(u64::from(*b));
            m.message(21, a);
        }
        Some(v @ Value::Object(_)) => {
            let mut a = Msg::default();
            a.message(1, schema(v));
            m.message(21, a);
        }
        _ => {}
    }
    match s.get("type") {
        Some(Value::String(t)) => {
            let mut t_msg = Msg::default();
            t_msg.bytes(1, t.as_bytes());
            m.message(22, t_msg);
        }
        Some(v @ Value::Array(_)) => {
            let mut t_msg = Msg::default();
            strings(&mut t_msg, 1, Some(v));
            m.message(22, t_msg);
        }
        _ => {}
    }
    match s.get("items") {
        Some(v @ Value::Object(_)) => {
            let mut i = Msg::default();
            i.message(1, schema(v));
            m.message(23, i);
        }
        Some(Value::Array(list)) => {
            let mut i = Msg::default();
            list.iter().for_each(|v| i.message(1, schema(v)));
            m.message(23, i);
        }
        _ => {}
    }
    for a in s
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.message(24, schema(a));
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        m.message(25, named_schemas(props));
    }
    m.bool(27, flag("readOnly"));
    if let Some(e) = s.get("example") {
        m.message(30, any(e));
    }
    vendor_extensions(&mut m, 31, s);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn varints_and_strings() {
        let mut m = Msg::default();
        m.varint(300);
        assert_eq!(m.0, [0xAC, 0x02]);
        let mut m = Msg::default();
        m.string(1, "2.0");
        assert_eq!(m.0, [0x0A, 3, b'2', b'.', b'0']);
    }

    #[test]
    fn document_starts_with_swagger_version() {
        let bytes = encode(&json!({"swagger": "2.0", "info": {"title": "T", "version": "v"}}));
        assert_eq!(&bytes[..5], &[0x0A, 3, b'2', b'.', b'0']);
        assert_eq!(&bytes[5..], &[0x12, 6, 0x0A, 1, b'T', 0x12, 1, b'v']);
    }
}
