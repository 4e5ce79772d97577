//! Defaulting: each type against what upstream v1.33 shows in `kubectl get -o yaml`.
#![allow(clippy::unwrap_used)]

use rkube_api::registry::find_kind;
use rkube_objects::{
    apply_create_defaults, apply_defaults, apply_job_create_defaults, apply_pod_admission_defaults,
    decode,
};
use serde_json::{Value, json};

/// Decodes `obj` as `group/version/kind` and applies its defaults, like a write does.
fn defaulted(group: &str, version: &str, kind: &str, obj: Value) -> Value {
    let info = find_kind(group, version, kind).unwrap();
    let mut v = decode(info, &obj).unwrap().value;
    apply_defaults(info, &mut v);
    // Defaulting is idempotent and survives another decode.
    let mut again = decode(info, &v).unwrap().value;
    apply_defaults(info, &mut again);
    assert_eq!(again, v, "defaults of {kind} are not stable");
    v
}

fn nginx_container() -> Value {
    json!({
        "image": "nginx",
        "imagePullPolicy": "Always",
        "name": "nginx",
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    })
}

fn template_spec() -> Value {
    json!({
        "containers": [nginx_container()],
        "dnsPolicy": "ClusterFirst",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "terminationGracePeriodSeconds": 30,
    })
}

#[test]
fn pod_like_kubectl_run() {
    let mut pod = defaulted(
        "",
        "v1",
        "Pod",
        json!({
            "metadata": {"name": "nginx", "labels": {"run": "nginx"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx"}]},
        }),
    );
    apply_pod_admission_defaults(&mut pod);
    let expected = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "nginx", "labels": {"run": "nginx"}},
        "spec": {
            "containers": [nginx_container()],
            "dnsPolicy": "ClusterFirst",
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority",
            "priority": 0,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "securityContext": {},
            "serviceAccount": "default",
            "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 30,
            "tolerations": [
                {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
                {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300},
            ],
        },
        "status": {},
    });
    assert_eq!(pod, expected);
}

#[test]
fn pod_details() {
    let pod = defaulted(
        "",
        "v1",
        "Pod",
        json!({
            "metadata": {"name": "p"},
            "spec": {
                "hostNetwork": true,
                "containers": [{
                    "name": "c", "image": "registry.k8s.io/pause:3.10",
                    "ports": [{"containerPort": 8080}],
                    "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    "resources": {"limits": {"cpu": "500m", "memory": "131072Ki"}, "requests": {"cpu": "0.1"}},
                    "livenessProbe": {"httpGet": {"port": 8080}},
                    "readinessProbe": {"grpc": {"port": 9000}, "periodSeconds": 5},
                    "lifecycle": {"preStop": {"httpGet": {"port": 80, "path": "/stop"}}},
                }],
                "volumes": [
                    {"name": "a"},
                    {"name": "g", "emptyDir": {"sizeLimit": "1024Mi"}},
                    {"name": "b", "configMap": {"name": "cm"}},
                    {"name": "c", "secret": {"secretName": "s", "defaultMode": 256}},
                    {"name": "d", "hostPath": {"path": "/tmp"}},
                    {"name": "e", "projected": {"sources": [
                        {"serviceAccountToken": {"path": "token"}},
                        {"downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name"}}]}},
                    ]}},
                    {"name": "f", "downwardAPI": {"items": [{"path": "l", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                ],
            },
        }),
    );
    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(
        c["ports"][0],
        json!({"containerPort": 8080, "hostPort": 8080, "protocol": "TCP"})
    );
    assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
    assert_eq!(
        c["resources"],
        json!({"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}})
    );
    assert_eq!(
        c["livenessProbe"],
        json!({"failureThreshold": 3, "httpGet": {"path": "/", "port": 8080, "scheme": "HTTP"},
               "periodSeconds": 10, "successThreshold": 1, "timeoutSeconds": 1})
    );
    assert_eq!(
        c["readinessProbe"],
        json!({"failureThreshold": 3, "grpc": {"port": 9000, "service": ""},
               "periodSeconds": 5, "successThreshold": 1, "timeoutSeconds": 1})
    );
    assert_eq!(c["lifecycle"]["preStop"]["httpGet"]["scheme"], "HTTP");
    let v = &pod["spec"]["volumes"];
    assert_eq!(v[0], json!({"name": "a", "emptyDir": {}}));
    let v = &v.as_array().unwrap()[..];
    assert_eq!(pod["spec"]["volumes"][1]["emptyDir"]["sizeLimit"], "1Gi");
    let v: Vec<_> = v.iter().filter(|x| x["name"] != "g").collect();
    assert_eq!(v[1]["configMap"], json!({"name": "cm", "defaultMode": 420}));
    assert_eq!(v[2]["secret"]["defaultMode"], 256);
    assert_eq!(v[3]["hostPath"], json!({"path": "/tmp", "type": ""}));
    assert_eq!(v[4]["projected"]["defaultMode"], 420);
    assert_eq!(
        v[4]["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"],
        3600
    );
    assert_eq!(
        v[4]["projected"]["sources"][1]["downwardAPI"]["items"][0]["fieldRef"]["apiVersion"],
        "v1"
    );
    assert_eq!(v[5]["downwardAPI"]["defaultMode"], 420);
}

#[test]
fn deployment_like_kubectl_create() {
    let d = defaulted(
        "apps",
        "v1",
        "Deployment",
        json!({
            "metadata": {"name": "nginx", "labels": {"app": "nginx"}},
            "spec": {
                "selector": {"matchLabels": {"app": "nginx"}},
                "template": {"metadata": {"labels": {"app": "nginx"}},
                             "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}},
            },
        }),
    );
    let expected = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx", "labels": {"app": "nginx"}},
        "spec": {
            "progressDeadlineSeconds": 600,
            "replicas": 1,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": "nginx"}},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
            "template": {
                "metadata": {"creationTimestamp": null, "labels": {"app": "nginx"}},
                "spec": template_spec(),
            },
        },
        "status": {},
    });
    assert_eq!(d, expected);
    // A Recreate strategy gets no rolling update parameters.
    let d = defaulted(
        "apps",
        "v1",
        "Deployment",
        json!({"spec": {"strategy": {"type": "Recreate"}, "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}),
    );
    assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
}

#[test]
fn statefulset_daemonset_replicaset() {
    let s = defaulted(
        "apps",
        "v1",
        "StatefulSet",
        json!({
            "metadata": {"name": "web"},
            "spec": {
                "serviceName": "web",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "www"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
            },
        }),
    );
    let spec = &s["spec"];
    assert_eq!(spec["podManagementPolicy"], "OrderedReady");
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(
        spec["updateStrategy"],
        json!({"rollingUpdate": {"partition": 0}, "type": "RollingUpdate"})
    );
    assert_eq!(
        spec["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
    assert_eq!(spec["template"]["spec"], template_spec());
    assert_eq!(
        spec["volumeClaimTemplates"][0],
        json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"creationTimestamp": null, "name": "www"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Filesystem"},
            "status": {"phase": "Pending"},
        })
    );
    let onde = defaulted(
        "apps",
        "v1",
        "StatefulSet",
        json!({"spec": {"updateStrategy": {"type": "OnDelete"}, "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}),
    );
    assert_eq!(onde["spec"]["updateStrategy"], json!({"type": "OnDelete"}));

    let ds = defaulted(
        "apps",
        "v1",
        "DaemonSet",
        json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}}),
    );
    assert_eq!(
        ds["spec"]["updateStrategy"],
        json!({"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}, "type": "RollingUpdate"})
    );
    assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(ds["status"]["desiredNumberScheduled"], 0);

    let rs = defaulted(
        "apps",
        "v1",
        "ReplicaSet",
        json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}),
    );
    assert_eq!(rs["spec"]["replicas"], 1);
    assert_eq!(rs["status"], json!({"replicas": 0}));
}

#[test]
fn replication_controller_copies_template_labels() {
    let rc = defaulted(
        "",
        "v1",
        "ReplicationController",
        json!({
            "metadata": {"name": "rc"},
            "spec": {"template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}},
        }),
    );
    assert_eq!(rc["spec"]["selector"], json!({"app": "x"}));
    assert_eq!(rc["metadata"]["labels"], json!({"app": "x"}));
    assert_eq!(rc["spec"]["replicas"], 1);
}

#[test]
fn job_and_cronjob() {
    let info = find_kind("batch", "v1", "Job").unwrap();
    let mut job = decode(info, &json!({
        "metadata": {"name": "pi"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl:5.34"}]}}},
    }))
    .unwrap()
    .value;
    apply_job_create_defaults(&mut job, "u-1");
    apply_defaults(info, &mut job);
    let labels = json!({
        "batch.kubernetes.io/controller-uid": "u-1",
        "batch.kubernetes.io/job-name": "pi",
        "controller-uid": "u-1",
        "job-name": "pi",
    });
    assert_eq!(job["metadata"]["labels"], labels);
    assert_eq!(job["spec"]["template"]["metadata"]["labels"], labels);
    assert_eq!(
        job["spec"]["selector"],
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}})
    );
    let spec = &job["spec"];
    assert_eq!(spec["backoffLimit"], 6);
    assert_eq!(spec["completions"], 1);
    assert_eq!(spec["parallelism"], 1);
    assert_eq!(spec["completionMode"], "NonIndexed");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
    assert!(spec.get("manualSelector").is_none());
    assert_eq!(spec["template"]["spec"]["restartPolicy"], "Never");

    let j = defaulted(
        "batch",
        "v1",
        "Job",
        json!({"spec": {"parallelism": 3, "backoffLimitPerIndex": 1, "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}},
        "podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]}}}),
    );
    assert!(j["spec"].get("completions").is_none());
    assert_eq!(j["spec"]["backoffLimit"], 2147483647);
    assert_eq!(j["spec"]["podReplacementPolicy"], "Failed");
    assert_eq!(
        j["spec"]["podFailurePolicy"]["rules"][0]["onPodConditions"][0]["status"],
        "True"
    );

    let cj = defaulted(
        "batch",
        "v1",
        "CronJob",
        json!({
            "metadata": {"name": "c"},
            "spec": {"schedule": "*/1 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
                "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}},
        }),
    );
    let spec = &cj["spec"];
    assert_eq!(spec["concurrencyPolicy"], "Allow");
    assert_eq!(spec["failedJobsHistoryLimit"], 1);
    assert_eq!(spec["successfulJobsHistoryLimit"], 3);
    assert_eq!(spec["suspend"], false);
    assert_eq!(
        spec["jobTemplate"]["metadata"],
        json!({"creationTimestamp": null})
    );
    assert!(spec["jobTemplate"]["spec"].get("backoffLimit").is_none());
    assert_eq!(
        spec["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"],
        "ClusterFirst"
    );
}

#[test]
fn services() {
    let s = defaulted(
        "",
        "v1",
        "Service",
        json!({
            "metadata": {"name": "s"},
            "spec": {"selector": {"app": "a"}, "ports": [{"port": 80}]},
        }),
    );
    assert_eq!(
        s["spec"],
        json!({
            "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
            "selector": {"app": "a"},
            "sessionAffinity": "None",
            "type": "ClusterIP",
        })
    );
    assert_eq!(s["status"], json!({"loadBalancer": {}}));
    let lb = defaulted(
        "",
        "v1",
        "Service",
        json!({"spec": {"type": "LoadBalancer", "sessionAffinity": "ClientIP",
        "ports": [{"port": 443, "targetPort": "https"}]}}),
    );
    assert_eq!(lb["spec"]["externalTrafficPolicy"], "Cluster");
    assert_eq!(lb["spec"]["allocateLoadBalancerNodePorts"], true);
    assert_eq!(lb["spec"]["ports"][0]["targetPort"], "https");
    assert_eq!(
        lb["spec"]["sessionAffinityConfig"],
        json!({"clientIP": {"timeoutSeconds": 10800}})
    );
    let en = defaulted(
        "",
        "v1",
        "Service",
        json!({"spec": {"type": "ExternalName", "externalName": "x.example"}}),
    );
    assert!(en["spec"].get("ipFamilyPolicy").is_none());
    assert!(en["spec"].get("internalTrafficPolicy").is_none());
}

#[test]
fn core_misc() {
    assert_eq!(
        defaulted("", "v1", "Secret", json!({"data": {}}))["type"],
        "Opaque"
    );
    let info = find_kind("", "v1", "Namespace").unwrap();
    let mut ns = defaulted("", "v1", "Namespace", json!({"metadata": {"name": "dev"}}));
    apply_create_defaults(info, &mut ns);
    assert_eq!(
        ns,
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": "dev", "labels": {"kubernetes.io/metadata.name": "dev"}},
               "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    );
    let pv = defaulted(
        "",
        "v1",
        "PersistentVolume",
        json!({"spec": {"hostPath": {"path": "/d"}, "capacity": {"storage": "1Gi"}}}),
    );
    assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    assert_eq!(pv["spec"]["volumeMode"], "Filesystem");
    assert_eq!(pv["spec"]["hostPath"]["type"], "");
    assert_eq!(pv["status"]["phase"], "Pending");
    let pvc = defaulted("", "v1", "PersistentVolumeClaim", json!({"spec": {}}));
    assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
    assert_eq!(pvc["status"]["phase"], "Pending");
    let node = defaulted(
        "",
        "v1",
        "Node",
        json!({"status": {"capacity": {"cpu": "2"}}}),
    );
    assert_eq!(node["status"]["allocatable"], json!({"cpu": "2"}));
    let ep = defaulted(
        "",
        "v1",
        "Endpoints",
        json!({"subsets": [{"ports": [{"port": 80}]}]}),
    );
    assert_eq!(ep["subsets"][0]["ports"][0]["protocol"], "TCP");
    let rq = defaulted(
        "",
        "v1",
        "ResourceQuota",
        json!({"spec": {"hard": {"cpu": "1000m", "pods": "10"}}}),
    );
    assert_eq!(rq["spec"]["hard"], json!({"cpu": "1", "pods": "10"}));
    let lr = defaulted(
        "",
        "v1",
        "LimitRange",
        json!({"spec": {"limits": [
        {"type": "Container", "max": {"cpu": "1"}, "min": {"memory": "10Mi"}}]}}),
    );
    assert_eq!(lr["spec"]["limits"][0]["default"], json!({"cpu": "1"}));
    assert_eq!(
        lr["spec"]["limits"][0]["defaultRequest"],
        json!({"cpu": "1", "memory": "10Mi"})
    );
    let ev = defaulted(
        "",
        "v1",
        "Event",
        json!({"metadata": {"name": "e"}, "message": "m"}),
    );
    assert_eq!(ev["eventTime"], Value::Null);
    assert_eq!(ev["reportingComponent"], "");
}

#[test]
fn other_groups() {
    let hpa = defaulted(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        json!({
        "spec": {"maxReplicas": 3, "scaleTargetRef": {"kind": "Deployment", "name": "d"},
                 "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}}}}),
    );
    assert_eq!(hpa["spec"]["minReplicas"], 1);
    assert_eq!(
        hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
        80
    );
    assert_eq!(
        hpa["spec"]["behavior"]["scaleDown"],
        json!({
        "policies": [{"periodSeconds": 15, "type": "Percent", "value": 100}],
        "selectPolicy": "Max", "stabilizationWindowSeconds": 60})
    );
    assert_eq!(
        hpa["spec"]["behavior"]["scaleUp"]["policies"][0],
        json!({"periodSeconds": 15, "type": "Pods", "value": 4})
    );
    assert_eq!(
        hpa["spec"]["behavior"]["scaleUp"]["stabilizationWindowSeconds"],
        0
    );
    let hpa1 = defaulted(
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler",
        json!({"spec": {"maxReplicas": 3}}),
    );
    assert_eq!(hpa1["spec"]["minReplicas"], 1);

    let es = defaulted(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        json!({"addressType": "IPv4", "endpoints": [], "ports": [{"port": 80}]}),
    );
    assert_eq!(
        es["ports"][0],
        json!({"name": "", "port": 80, "protocol": "TCP"})
    );
    let np = defaulted(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        json!({"spec": {"podSelector": {},
        "ingress": [{"ports": [{"port": 80}]}], "egress": [{}]}}),
    );
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(np["spec"]["ingress"][0]["ports"][0]["protocol"], "TCP");
    let np = defaulted(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        json!({"spec": {"podSelector": {}}}),
    );
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress"]));
    let pc = defaulted(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        json!({"value": 1000}),
    );
    assert_eq!(pc["preemptionPolicy"], "PreemptLowerPriority");
    let sc = defaulted(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        json!({"provisioner": "x"}),
    );
    assert_eq!(sc["reclaimPolicy"], "Delete");
    assert_eq!(sc["volumeBindingMode"], "Immediate");
    let rb = defaulted(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        json!({
        "roleRef": {"kind": "Role", "name": "r"},
        "subjects": [{"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "s", "namespace": "d"}]}),
    );
    assert_eq!(rb["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
    assert_eq!(rb["subjects"][0]["apiGroup"], "rbac.authorization.k8s.io");
    assert!(rb["subjects"][1].get("apiGroup").is_none());
    let ing = defaulted("networking.k8s.io", "v1", "Ingress", json!({"spec": {}}));
    assert_eq!(ing["status"], json!({"loadBalancer": {}}));
}

#[test]
fn secret_string_data_folds_into_data() {
    let s = defaulted(
        "",
        "v1",
        "Secret",
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
               "data": {"a": "b2xk", "keep": "eA=="},
               "stringData": {"a": "new", "user": "admin"}}),
    );
    assert_eq!(s["type"], "Opaque");
    assert_eq!(
        s["data"],
        json!({"a": "bmV3", "keep": "eA==", "user": "YWRtaW4="})
    );
    assert!(s.get("stringData").is_none());
}
