//! `GET pods/{name}/log`: picks the container and the instance as upstream
//! does (errors for waiting containers and missing previous instances), then
//! streams the log from the node agent's HTTPS server (`/containerLogs`),
//! authenticated with the node join token.

use axum::body::Body;
use axum::response::Response;
use http::{StatusCode, header};
use rkube_store::Store;
use serde_json::Value;

use crate::error::ApiError;
use crate::meta;
use crate::request::{Query, ResourceRequest};
use crate::state::AppState;

/// The options passed on to the node agent.
const PASSED: [&str; 7] = [
    "follow",
    "previous",
    "tailLines",
    "sinceSeconds",
    "sinceTime",
    "timestamps",
    "limitBytes",
];

fn names(list: Option<&Value>) -> Vec<String> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

/// The container whose log is asked for (upstream's defaulting and messages).
pub fn pick_container(
    pod: &Value,
    pod_name: &str,
    asked: Option<&str>,
) -> Result<String, ApiError> {
    let containers = names(pod.pointer("/spec/containers"));
    let inits = names(pod.pointer("/spec/initContainers"));
    let ephemeral = names(pod.pointer("/spec/ephemeralContainers"));
    let Some(name) = asked.filter(|c| !c.is_empty()) else {
        if containers.len() == 1 {
            return Ok(containers[0].clone());
        }
        let mut msg = format!(
            "a container name must be specified for pod {pod_name}, choose one of: [{}]",
            containers.join(" ")
        );
        if !inits.is_empty() {
            msg.push_str(&format!(
                " or one of the init containers: [{}]",
                inits.join(" ")
            ));
        }
        return Err(ApiError::bad_request(msg));
    };
    if containers
        .iter()
        .chain(&inits)
        .chain(&ephemeral)
        .any(|c| c == name)
    {
        Ok(name.to_string())
    } else {
        Err(ApiError::bad_request(format!(
            "container {name} is not valid for pod {pod_name}"
        )))
    }
}

/// The runtime id of the instance to read, from the pod's status, as the
/// kubelet's `validateContainerLogStatus`.
pub fn pick_instance(
    pod: &Value,
    pod_name: &str,
    container: &str,
    previous: bool,
) -> Result<String, ApiError> {
    let status = [
        "containerStatuses",
        "initContainerStatuses",
        "ephemeralContainerStatuses",
    ]
    .iter()
    .filter_map(|k| {
        pod.pointer(&format!("/status/{k}"))
            .and_then(Value::as_array)
    })
    .flatten()
    .find(|s| s["name"] == container);
    let state = status.map(|s| &s["state"]);
    let last = status
        .map(|s| &s["lastState"]["terminated"])
        .filter(|t| t.is_object());
    let id = |t: &Value| {
        t["containerID"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let terminated_msg = || {
        ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{pod_name}\" is terminated"
        ))
    };
    if previous {
        return last.and_then(id).ok_or_else(|| {
            ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{pod_name}\" not found"
            ))
        });
    }
    if let Some(s) = status.filter(|s| s["state"]["running"].is_object()) {
        return s["containerID"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(terminated_msg);
    }
    if let Some(t) = state.map(|s| &s["terminated"]).filter(|t| t.is_object()) {
        return id(t)
            .or_else(|| last.and_then(id))
            .ok_or_else(terminated_msg);
    }
    if let Some(t) = last {
        return id(t).ok_or_else(terminated_msg);
    }
    let reason = state
        .and_then(|s| s["waiting"]["reason"].as_str())
        .unwrap_or("ContainerCreating");
    let why = match reason {
        "ErrImagePull" => "image can't be pulled",
        "ImagePullBackOff" => "trying and failing to pull image",
        other => other,
    };
    Err(ApiError::bad_request(format!(
        "container \"{container}\" in pod \"{pod_name}\" is waiting to start: {why}"
    )))
}

/// The node agent's address: the Node's InternalIP (else its first address)
/// and its kubelet port.
pub(crate) fn kubelet_endpoint(node: &Value) -> Option<(String, i64)> {
    let addrs = node.pointer("/status/addresses")?.as_array()?;
    let ip = addrs
        .iter()
        .find(|a| a["type"] == "InternalIP")
        .or(addrs.first())?["address"]
        .as_str()?
        .to_string();
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_i64)
        .filter(|p| *p > 0)
        .unwrap_or(10250);
    Some((ip, port))
}

/// A node of `rkube agent --simulate`.
pub(crate) fn is_simulated(node: &Value) -> bool {
    node.pointer("/metadata/annotations/rkube.io~1simulated") == Some(&Value::from("true"))
}

/// The stored object at `key`, decoded (no resourceVersion set).
pub(crate) async fn get_json(state: &AppState, key: &str) -> Result<Option<Value>, ApiError> {
    match state.store.get(key).await? {
        Some(kv) => Ok(Some(
            serde_json::from_slice(&kv.value).map_err(ApiError::internal)?,
        )),
        None => Ok(None),
    }
}

/// Serves `GET pods/{name}/log`.
pub async fn pod_log(
    state: &AppState,
    req: &ResourceRequest,
    q: &Query,
) -> Result<Response, ApiError> {
    let info = req.info;
    let name = req.name.clone().unwrap_or_default();
    let ns = req.namespace.clone().unwrap_or_default();
    let pod = get_json(state, &meta::key(info, &ns, &name))
        .await?
        .ok_or_else(|| ApiError::not_found(info, &name))?;
    let container = pick_container(&pod, &name, q.get("container"))?;
    let node_name = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("pod {name} does not have a host assigned")))?
        .to_string();
    let instance = pick_instance(&pod, &name, &container, q.flag("previous"))?;
    let nodes = rkube_api::registry::find("", "v1", "nodes")
        .ok_or_else(|| ApiError::internal("no nodes resource"))?;
    let node = get_json(state, &meta::key(nodes, "", &node_name))
        .await?
        .ok_or_else(|| ApiError::bad_request(format!("node \"{node_name}\" not found")))?;
    // Simulated nodes (rkube agent --simulate) run no containers and their
    // addresses lead nowhere: never dial them.
    if is_simulated(&node) {
        return Err(ApiError::ServiceUnavailable {
            message: format!(
                "log is not available: node \"{node_name}\" is simulated and runs no containers"
            ),
        });
    }
    let (ip, port) = kubelet_endpoint(&node)
        .ok_or_else(|| ApiError::bad_request(format!("node \"{node_name}\" has no address")))?;

    let mut query: Vec<(String, String)> = PASSED
        .iter()
        .filter_map(|k| q.get(k).map(|v| (k.to_string(), v.to_string())))
        .collect();
    let id = instance
        .rsplit("://")
        .next()
        .unwrap_or(&instance)
        .to_string();
    query.push(("containerID".into(), id));
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip
    };
    let url = format!("https://{host}:{port}/containerLogs/{ns}/{name}/{container}");
    let client = reqwest::Client::builder()
        // Kubelet serving certificates are self-signed; upstream does not
        // verify them unless told to.
        .danger_accept_invalid_certs(true)
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()
        .map_err(ApiError::internal)?;
    let resp = client
        .get(&url)
        .query(&query)
        .bearer_auth(state.auth.node_token())
        .send()
        .await
        .map_err(|e| ApiError::Internal {
            message: format!("Get \"{url}\": {e}"),
        })?;
    let code = resp.status();
    if !code.is_success() {
        let text = resp.text().await.unwrap_or_default();
        return Err(match code.as_u16() {
            400 => ApiError::bad_request(text),
            404 => ApiError::NotFound {
                message: text,
                details: None,
            },
            _ => ApiError::Internal { message: text },
        });
    }
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from_stream(resp.bytes_stream()))
        .map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]},
            "status": {"containerStatuses": [
                {"name": "a", "containerID": "containerd://r1", "state": {"running": {}},
                 "lastState": {"terminated": {"containerID": "containerd://old", "exitCode": 1}}},
                {"name": "b", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"containerID": "containerd://b1", "exitCode": 1}}}
            ], "initContainerStatuses": [
                {"name": "i", "state": {"waiting": {"reason": "ImagePullBackOff"}}, "lastState": {}}
            ]}
        })
    }

    #[test]
    fn containers_are_picked_as_upstream() {
        let p = pod();
        assert_eq!(
            pick_container(&p, "p", None).unwrap_err().to_string(),
            "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]"
        );
        assert_eq!(pick_container(&p, "p", Some("i")).unwrap(), "i");
        assert_eq!(
            pick_container(&p, "p", Some("z")).unwrap_err().to_string(),
            "container z is not valid for pod p"
        );
        let one = json!({"spec": {"containers": [{"name": "only"}]}});
        assert_eq!(pick_container(&one, "p", None).unwrap(), "only");
    }

    #[test]
    fn instances_are_picked_as_the_kubelet_does() {
        let p = pod();
        assert_eq!(
            pick_instance(&p, "p", "a", false).unwrap(),
            "containerd://r1"
        );
        assert_eq!(
            pick_instance(&p, "p", "a", true).unwrap(),
            "containerd://old"
        );
        // In CrashLoopBackOff the last run is both the current and the previous log.
        assert_eq!(
            pick_instance(&p, "p", "b", false).unwrap(),
            "containerd://b1"
        );
        assert_eq!(
            pick_instance(&p, "p", "b", true).unwrap(),
            "containerd://b1"
        );
        assert_eq!(
            pick_instance(&p, "p", "i", false).unwrap_err().to_string(),
            "container \"i\" in pod \"p\" is waiting to start: trying and failing to pull image"
        );
        assert_eq!(
            pick_instance(&p, "p", "i", true).unwrap_err().to_string(),
            "previous terminated container \"i\" in pod \"p\" not found"
        );
        let new = json!({"status": {}});
        assert_eq!(
            pick_instance(&new, "p", "a", false)
                .unwrap_err()
                .to_string(),
            "container \"a\" in pod \"p\" is waiting to start: ContainerCreating"
        );
    }

    #[test]
    fn the_kubelet_endpoint_comes_from_the_node() {
        let n = json!({"status": {"addresses": [{"type": "Hostname", "address": "n1"},
            {"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 12345}}}});
        assert_eq!(kubelet_endpoint(&n), Some(("127.0.0.1".into(), 12345)));
        assert!(!is_simulated(&n));
        let sim = json!({"metadata": {"annotations": {"rkube.io/simulated": "true"}}});
        assert!(is_simulated(&sim));
    }
}
