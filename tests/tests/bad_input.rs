//! Bad input gets the right Status (code, reason, a message naming the field) and stores nothing.

use rkube_e2e::Cluster;

const PODS: &str = "/api/v1/namespaces/default/pods";
const CMS: &str = "/api/v1/namespaces/default/configmaps";

fn pod(name: &str, extra_spec: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}"}},"spec":{{"containers":[{{"name":"c","image":"busybox"}}]{extra_spec}}}}}"#
    )
}

fn assert_status(r: &rkube_e2e::cluster::RawResponse, code: u16, reason: &str, needle: &str) {
    assert_eq!(r.code, code, "{}", r.text);
    assert_eq!(r.body["kind"], "Status", "{}", r.text);
    assert_eq!(r.body["code"], code, "{}", r.text);
    assert_eq!(r.body["reason"], reason, "{}", r.text);
    let msg = r.body["message"].as_str().unwrap_or("");
    assert!(
        msg.contains(needle),
        "message {msg:?} should mention {needle:?}"
    );
}

#[test]
fn bad_input_is_refused_and_nothing_is_stored() {
    let c = Cluster::start();
    let t = c.token();
    let tok = Some(t.as_str());
    let json = "application/json";

    let r = c.raw(
        "POST",
        PODS,
        json,
        Some(b"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{"),
        tok,
    );
    assert_status(&r, 400, "BadRequest", "");
    let r = c.raw(
        "POST",
        PODS,
        "application/yaml",
        Some(b"apiVersion: v1\nkind: Pod\nmetadata: [\n  name: x"),
        tok,
    );
    assert_status(&r, 400, "BadRequest", "");

    let strict = format!("{PODS}?fieldValidation=Strict");
    let r = c.raw(
        "POST",
        &strict,
        json,
        Some(pod("strict", r#","bogusField":1"#).as_bytes()),
        tok,
    );
    assert_status(&r, 400, "BadRequest", "unknown field \"spec.bogusField\"");

    let r = c.raw(
        "POST",
        PODS,
        json,
        Some(br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"nocontainers"},"spec":{}}"#),
        tok,
    );
    assert_status(&r, 422, "Invalid", "spec.containers");
    assert!(
        r.body["details"]["causes"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    );
    let r = c.raw("POST", PODS, json, Some(br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"noimage"},"spec":{"containers":[{"name":"c"}]}}"#), tok);
    assert_status(&r, 422, "Invalid", "spec.containers[0].image");

    let r = c.raw(
        "POST",
        PODS,
        json,
        Some(pod("Bad_Name", "").as_bytes()),
        tok,
    );
    assert_status(&r, 422, "Invalid", "metadata.name");

    let svc = br#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"wrongkind"},"spec":{"ports":[{"port":80}]}}"#;
    let r = c.raw("POST", PODS, json, Some(svc), tok);
    assert_status(&r, 400, "BadRequest", "Service");

    let other_ns = br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"wrongns","namespace":"kube-system"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}"#;
    let r = c.raw("POST", PODS, json, Some(other_ns), tok);
    assert_status(&r, 400, "BadRequest", "namespace");

    // Stale resourceVersion on update.
    // (A ConfigMap: no controller or scheduler writes to it behind the test's back.)
    let r = c.raw("POST", CMS, json, Some(br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"good"},"data":{"a":"b"}}"#), tok);
    assert_eq!(r.code, 201, "{}", r.text);
    let mut obj = r.body.clone();
    let rv = obj["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_string();
    obj["metadata"]["labels"] = serde_json::json!({"v": "1"});
    let r = c.raw(
        "PUT",
        &format!("{CMS}/good"),
        json,
        Some(obj.to_string().as_bytes()),
        tok,
    );
    assert_eq!(r.code, 200, "{}", r.text);
    obj["metadata"]["resourceVersion"] = serde_json::json!(rv);
    obj["metadata"]["labels"] = serde_json::json!({"v": "2"});
    let r = c.raw(
        "PUT",
        &format!("{CMS}/good"),
        json,
        Some(obj.to_string().as_bytes()),
        tok,
    );
    assert_status(&r, 409, "Conflict", "the object has been modified");

    // Over 3 MiB.
    let big = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"big"}},"data":{{"x":"{}"}}}}"#,
        "a".repeat(3 * 1024 * 1024 + 10)
    );
    let r = c.raw(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        json,
        Some(big.as_bytes()),
        tok,
    );
    assert_eq!(r.code, 413, "{}", r.text);

    // No token, wrong token.
    let r = c.raw("GET", PODS, json, None, None);
    assert_status(&r, 401, "Unauthorized", "Unauthorized");
    let r = c.raw("GET", PODS, json, None, Some("wrong"));
    assert_status(&r, 401, "Unauthorized", "Unauthorized");
    // Health and version answer without credentials.
    assert_eq!(c.raw("GET", "/readyz", json, None, None).code, 200);
    assert_eq!(c.raw("GET", "/version", json, None, None).code, 200);

    // Nothing half-written: no pod at all, and no big configmap.
    let names = c.ok(&["get", "pods", "-o", "name"]);
    assert_eq!(names.trim(), "", "{names}");
    assert!(c.fails(&["get", "cm", "big"]).contains("NotFound"));
}
