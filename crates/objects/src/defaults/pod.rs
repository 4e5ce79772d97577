//! Defaults of pods, pod templates and everything inside a PodSpec.

use serde_json::{Value, json};

use super::util::{
    Obj, each_obj, ensure_obj, get_obj, quantity, requirements, resource_list, set_if_nil,
    set_if_zero, str_of, with_obj,
};

/// Defaults of a whole Pod (`SetObjectDefaults_Pod`): the pod-only ones and the PodSpec ones.
pub(crate) fn pod(o: &mut Obj) {
    let spec = ensure_obj(o, "spec");
    pod_only(spec);
    pod_spec(spec);
    set_if_nil(o, "status", json!({}));
}

/// Defaults of a PodTemplateSpec (`template:` of workloads and PodTemplate).
pub(crate) fn template(t: &mut Obj) {
    template_metadata(t);
    pod_spec(ensure_obj(t, "spec"));
}

/// Go serializes the template's zero `creationTimestamp` as `null`.
pub(crate) fn template_metadata(t: &mut Obj) {
    let meta = ensure_obj(t, "metadata");
    if !meta.contains_key("creationTimestamp") {
        meta.insert("creationTimestamp".into(), Value::Null);
    }
}

/// `SetDefaults_Pod`: defaults that only materialize on Pods, not on templates.
fn pod_only(spec: &mut Obj) {
    for key in ["containers", "initContainers"] {
        each_obj(spec, key, requests_from_limits);
    }
    set_if_nil(spec, "enableServiceLinks", json!(true));
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        for key in ["containers", "initContainers"] {
            each_obj(spec, key, |c| {
                each_obj(c, "ports", |p| {
                    if let Some(cp) = p.get("containerPort").cloned() {
                        set_if_zero(p, "hostPort", cp);
                    }
                })
            });
        }
    }
}

/// Requests default to limits for every resource that has a limit but no request.
fn requests_from_limits(c: &mut Obj) {
    let Some(res) = get_obj(c, "resources") else {
        return;
    };
    let Some(limits) = res.get("limits").and_then(Value::as_object).cloned() else {
        return;
    };
    let requests = ensure_obj(res, "requests");
    for (k, v) in limits {
        requests.entry(k).or_insert(v);
    }
}

/// `SetDefaults_PodSpec` plus the defaults of the volumes and containers inside it.
pub(crate) fn pod_spec(spec: &mut Obj) {
    set_if_zero(spec, "dnsPolicy", json!("ClusterFirst"));
    set_if_zero(spec, "restartPolicy", json!("Always"));
    set_if_nil(spec, "securityContext", json!({}));
    set_if_nil(spec, "terminationGracePeriodSeconds", json!(30));
    set_if_zero(spec, "schedulerName", json!("default-scheduler"));
    // v1 conversion keeps the deprecated serviceAccount field in step with serviceAccountName.
    let sa = match str_of(spec, "serviceAccountName") {
        "" => str_of(spec, "serviceAccount").to_string(),
        name => name.to_string(),
    };
    if !sa.is_empty() {
        spec.insert("serviceAccountName".into(), json!(sa));
        spec.insert("serviceAccount".into(), json!(sa));
    }
    resource_list(spec, "overhead");
    requirements(spec);
    each_obj(spec, "volumes", volume);
    each_obj(spec, "initContainers", container);
    each_obj(spec, "containers", container);
    each_obj(spec, "ephemeralContainers", container);
}

/// `SetDefaults_Volume` and the defaults of each volume source.
fn volume(v: &mut Obj) {
    const SOURCES: &[&str] = &[
        "hostPath",
        "emptyDir",
        "gcePersistentDisk",
        "awsElasticBlockStore",
        "gitRepo",
        "secret",
        "nfs",
        "iscsi",
        "glusterfs",
        "persistentVolumeClaim",
        "rbd",
        "flexVolume",
        "cinder",
        "cephfs",
        "flocker",
        "downwardAPI",
        "fc",
        "azureFile",
        "configMap",
        "vsphereVolume",
        "quobyte",
        "azureDisk",
        "photonPersistentDisk",
        "projected",
        "portworxVolume",
        "scaleIO",
        "storageos",
        "csi",
        "ephemeral",
        "image",
    ];
    if !SOURCES
        .iter()
        .any(|s| v.get(*s).is_some_and(|x| !x.is_null()))
    {
        v.insert("emptyDir".into(), json!({}));
    }
    with_obj(v, "hostPath", |h| set_if_nil(h, "type", json!("")));
    with_obj(v, "emptyDir", |e| quantity(e, "sizeLimit"));
    for key in ["secret", "configMap", "downwardAPI", "projected"] {
        with_obj(v, key, |s| set_if_nil(s, "defaultMode", json!(420)));
    }
    with_obj(v, "downwardAPI", |d| each_obj(d, "items", downward_item));
    with_obj(v, "projected", |p| {
        each_obj(p, "sources", |s| {
            with_obj(s, "downwardAPI", |d| each_obj(d, "items", downward_item));
            with_obj(s, "serviceAccountToken", |t| {
                set_if_nil(t, "expirationSeconds", json!(3600))
            });
        })
    });
    with_obj(v, "image", |i| {
        let policy = pull_policy(str_of(i, "reference"));
        set_if_zero(i, "pullPolicy", json!(policy));
    });
    with_obj(v, "ephemeral", |e| {
        with_obj(e, "volumeClaimTemplate", |t| {
            with_obj(t, "spec", |s| {
                set_if_nil(s, "volumeMode", json!("Filesystem"))
            })
        })
    });
    legacy_sources(v);
}

/// Defaults of the old in-tree volume plugins (iSCSI, RBD, Azure disk, ScaleIO).
pub(crate) fn legacy_sources(v: &mut Obj) {
    with_obj(v, "iscsi", |s| {
        set_if_zero(s, "iscsiInterface", json!("default"))
    });
    with_obj(v, "rbd", |s| {
        set_if_zero(s, "pool", json!("rbd"));
        set_if_zero(s, "user", json!("admin"));
        set_if_zero(s, "keyring", json!("/etc/ceph/keyring"));
    });
    with_obj(v, "azureDisk", |s| {
        set_if_nil(s, "cachingMode", json!("ReadWrite"));
        set_if_nil(s, "fsType", json!("ext4"));
        set_if_nil(s, "readOnly", json!(false));
        set_if_nil(s, "kind", json!("Shared"));
    });
    with_obj(v, "scaleIO", |s| {
        set_if_zero(s, "storageMode", json!("ThinProvisioned"));
        set_if_zero(s, "fsType", json!("xfs"));
    });
}

fn downward_item(item: &mut Obj) {
    with_obj(item, "fieldRef", field_ref);
}

fn field_ref(f: &mut Obj) {
    set_if_zero(f, "apiVersion", json!("v1"));
}

/// `SetDefaults_Container` plus ports, env, probes and lifecycle handlers.
fn container(c: &mut Obj) {
    let policy = pull_policy(str_of(c, "image"));
    set_if_zero(c, "imagePullPolicy", json!(policy));
    set_if_zero(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_if_zero(c, "terminationMessagePolicy", json!("File"));
    // Go always serializes the (struct) resources field, empty or not.
    set_if_nil(c, "resources", json!({}));
    requirements(c);
    each_obj(c, "ports", |p| set_if_zero(p, "protocol", json!("TCP")));
    each_obj(c, "env", |e| {
        with_obj(e, "valueFrom", |vf| with_obj(vf, "fieldRef", field_ref))
    });
    for key in ["livenessProbe", "readinessProbe", "startupProbe"] {
        with_obj(c, key, probe);
    }
    with_obj(c, "lifecycle", |l| {
        for key in ["postStart", "preStop"] {
            with_obj(l, key, |h| with_obj(h, "httpGet", http_get));
        }
    });
}

fn probe(p: &mut Obj) {
    set_if_zero(p, "timeoutSeconds", json!(1));
    set_if_zero(p, "periodSeconds", json!(10));
    set_if_zero(p, "successThreshold", json!(1));
    set_if_zero(p, "failureThreshold", json!(3));
    with_obj(p, "httpGet", http_get);
    with_obj(p, "grpc", |g| set_if_nil(g, "service", json!("")));
}

fn http_get(h: &mut Obj) {
    set_if_zero(h, "path", json!("/"));
    set_if_zero(h, "scheme", json!("HTTP"));
}

/// `Always` when the image's tag is `latest` (or it has neither tag nor digest),
/// `IfNotPresent` otherwise, as upstream decides from the parsed image reference.
pub(crate) fn pull_policy(image: &str) -> &'static str {
    if tag_of(image).as_deref() == Some("latest") {
        "Always"
    } else {
        "IfNotPresent"
    }
}

/// The tag of an image reference: `latest` when it names neither tag nor digest,
/// `None` when it has only a digest or is not a valid reference.
fn tag_of(image: &str) -> Option<String> {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    // The path after the registry host must be lower case; empty names are invalid.
    let path = match repo.split_once('/') {
        Some((host, rest)) if host.contains(['.', ':']) || host == "localhost" => rest,
        _ => repo,
    };
    if path.is_empty()
        || path
            .chars()
            .any(|c| c.is_ascii_uppercase() || c.is_whitespace())
    {
        return None;
    }
    match (tag, digest) {
        (Some(t), _) if !t.is_empty() => Some(t.to_string()),
        (_, Some(_)) => None,
        _ => Some("latest".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(pull_policy("nginx"), "Always");
        assert_eq!(pull_policy("nginx:latest"), "Always");
        assert_eq!(pull_policy("nginx:1.25"), "IfNotPresent");
        assert_eq!(pull_policy("localhost:5000/nginx"), "Always");
        assert_eq!(pull_policy("localhost:5000/nginx:v1"), "IfNotPresent");
        assert_eq!(pull_policy("nginx@sha256:abcd"), "IfNotPresent");
        assert_eq!(pull_policy("nginx:latest@sha256:abcd"), "Always");
        assert_eq!(pull_policy("registry.k8s.io/pause:3.10"), "IfNotPresent");
        assert_eq!(pull_policy(""), "IfNotPresent");
        assert_eq!(pull_policy("Nginx"), "IfNotPresent");
    }
}
