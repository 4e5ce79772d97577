//! Tests for core kinds: nodes, namespaces, services, endpoints, storage, events, quotas.

use serde_json::{Value, json};

use super::{ago, headers, row, text};

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": ago(3 * 86400 + 7200)})
}

#[test]
fn nodes() {
    assert_eq!(
        headers("", "v1", "Node", false),
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    );
    let mut node = json!({"metadata": {"name": "node-1", "creationTimestamp": ago(600),
            "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": "", "kubernetes.io/hostname": "node-1"}},
        "spec": {},
        "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}, {"type": "Hostname", "address": "node-1"}],
            "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                         "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "containerd://1.6.20"}}});
    assert_eq!(
        text(&row("", "v1", "Node", &node)),
        [
            "node-1",
            "Ready",
            "control-plane,master",
            "10m",
            "v1.33.0",
            "192.168.1.10",
            "<none>",
            "Debian GNU/Linux 12 (bookworm)",
            "6.1.0-18-amd64",
            "containerd://1.6.20"
        ]
    );
    node["spec"]["unschedulable"] = json!(true);
    node["status"]["conditions"][1]["status"] = json!("Unknown");
    node["metadata"]["labels"] = json!({"kubernetes.io/role": "worker"});
    let cells = text(&row("", "v1", "Node", &node));
    assert_eq!(cells[1..3], ["NotReady,SchedulingDisabled", "worker"]);
    let bare = json!({"metadata": {"name": "n"}, "status": {}});
    let cells = text(&row("", "v1", "Node", &bare));
    assert_eq!(cells[1..3], ["Unknown", "<none>"]);
    assert_eq!(cells[7..], ["<unknown>", "<unknown>", "<unknown>"]);
}

#[test]
fn namespaces_configmaps_secrets_serviceaccounts() {
    let ns = json!({"metadata": {"name": "kube-system", "creationTimestamp": ago(45)}, "status": {"phase": "Active"}});
    assert_eq!(
        text(&row("", "v1", "Namespace", &ns)),
        ["kube-system", "Active", "45s"]
    );
    let cm =
        json!({"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
    assert_eq!(
        headers("", "v1", "ConfigMap", true),
        ["NAME", "DATA", "AGE"]
    );
    assert_eq!(
        row("", "v1", "ConfigMap", &cm),
        [json!("cfg"), json!(3), json!("3d2h")]
    );
    let secret = json!({"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}});
    assert_eq!(
        headers("", "v1", "Secret", true),
        ["NAME", "TYPE", "DATA", "AGE"]
    );
    assert_eq!(
        row("", "v1", "Secret", &secret),
        [
            json!("tls"),
            json!("kubernetes.io/tls"),
            json!(2),
            json!("3d2h")
        ]
    );
    let sa = json!({"metadata": meta("default")});
    assert_eq!(
        text(&row("", "v1", "ServiceAccount", &sa)),
        ["default", "0", "3d2h"]
    );
}

fn service(spec: Value, status: Value) -> Value {
    json!({"metadata": meta("web"), "spec": spec, "status": status})
}

#[test]
fn services() {
    assert_eq!(
        headers("", "v1", "Service", true),
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
            "SELECTOR"
        ]
    );
    let cluster = service(
        json!({"type": "ClusterIP", "clusterIP": "10.43.0.1", "clusterIPs": ["10.43.0.1"],
               "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}),
        json!({}),
    );
    assert_eq!(
        text(&row("", "v1", "Service", &cluster)),
        [
            "web",
            "ClusterIP",
            "10.43.0.1",
            "<none>",
            "443/TCP",
            "3d2h",
            "<none>"
        ]
    );
    let node_port = service(
        json!({"type": "NodePort", "clusterIPs": ["10.43.12.7"], "selector": {"app": "nginx"},
               "ports": [{"port": 8888, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "nodePort": 30053, "protocol": "UDP"}]}),
        json!({}),
    );
    assert_eq!(
        text(&row("", "v1", "Service", &node_port))[1..],
        [
            "NodePort",
            "10.43.12.7",
            "<none>",
            "8888:30080/TCP,53:30053/UDP",
            "3d2h",
            "app=nginx"
        ]
    );
    let lb = service(
        json!({"type": "LoadBalancer", "clusterIPs": ["10.43.1.1"], "ports": [{"port": 80, "nodePort": 31000, "protocol": "TCP"}]}),
        json!({}),
    );
    assert_eq!(text(&row("", "v1", "Service", &lb))[3], "<pending>");
    let lb_ready = service(
        json!({"type": "LoadBalancer", "clusterIPs": ["10.43.1.1"], "externalIPs": ["1.2.3.4"]}),
        json!({"loadBalancer": {"ingress": [{"ip": "192.168.5.20"}, {"hostname": "lb.example.com"}]}}),
    );
    assert_eq!(
        text(&row("", "v1", "Service", &lb_ready))[3..5],
        ["192.168.5.20,lb.example.com,1.2.3.4", "<none>"]
    );
    let headless = service(
        json!({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"]}),
        json!({}),
    );
    assert_eq!(text(&row("", "v1", "Service", &headless))[2], "None");
    let external = service(
        json!({"type": "ExternalName", "externalName": "db.example.com"}),
        json!({}),
    );
    assert_eq!(
        text(&row("", "v1", "Service", &external))[1..5],
        ["ExternalName", "<none>", "db.example.com", "<none>"]
    );
}

#[test]
fn endpoints() {
    let ep = json!({"metadata": meta("web"), "subsets": [
        {"addresses": [{"ip": "10.42.0.5"}, {"ip": "10.42.0.6"}], "ports": [{"port": 80}, {"port": 443}]},
        {"addresses": [{"ip": "10.42.1.9"}], "ports": [{"port": 80}]},
        {"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]});
    assert_eq!(
        text(&row("", "v1", "Endpoints", &ep))[1],
        "10.42.0.5:80,10.42.0.6:80,10.42.0.5:443 + 3 more..."
    );
    let small = json!({"metadata": meta("web"), "subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]});
    assert_eq!(text(&row("", "v1", "Endpoints", &small))[1], "[fd00::1]:80");
    let headless =
        json!({"metadata": meta("h"), "subsets": [{"addresses": [{"ip": "10.42.0.7"}]}]});
    assert_eq!(text(&row("", "v1", "Endpoints", &headless))[1], "10.42.0.7");
    let none = json!({"metadata": meta("kube-dns")});
    assert_eq!(text(&row("", "v1", "Endpoints", &none))[1], "<none>");
}

#[test]
fn persistent_volumes_and_claims() {
    assert_eq!(
        headers("", "v1", "PersistentVolume", false),
        [
            "NAME",
            "CAPACITY",
            "ACCESS MODES",
            "RECLAIM POLICY",
            "STATUS",
            "CLAIM",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "REASON",
            "AGE"
        ]
    );
    let pv = json!({"metadata": meta("pv1"), "spec": {"capacity": {"storage": "10Gi"},
        "accessModes": ["ReadWriteMany", "ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain",
        "claimRef": {"namespace": "default", "name": "data"}, "storageClassName": "local-path", "volumeMode": "Filesystem"},
        "status": {"phase": "Bound"}});
    assert_eq!(
        text(&row("", "v1", "PersistentVolume", &pv)),
        [
            "pv1",
            "10Gi",
            "RWO,RWX",
            "Retain",
            "Bound",
            "default/data",
            "local-path",
            "<unset>",
            "",
            "3d2h",
            "Filesystem"
        ]
    );
    assert_eq!(
        headers("", "v1", "PersistentVolumeClaim", false),
        [
            "NAME",
            "STATUS",
            "VOLUME",
            "CAPACITY",
            "ACCESS MODES",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "AGE"
        ]
    );
    let pending = json!({"metadata": meta("data"), "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local-path",
        "resources": {"requests": {"storage": "1Gi"}}}, "status": {"phase": "Pending"}});
    assert_eq!(
        text(&row("", "v1", "PersistentVolumeClaim", &pending)),
        [
            "data",
            "Pending",
            "",
            "",
            "",
            "local-path",
            "<unset>",
            "3d2h",
            "<unset>"
        ]
    );
    let bound = json!({"metadata": meta("data"), "spec": {"volumeName": "pv1", "volumeMode": "Filesystem"},
        "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"]}});
    assert_eq!(
        text(&row("", "v1", "PersistentVolumeClaim", &bound))[1..6],
        ["Bound", "pv1", "10Gi", "RWO", ""]
    );
}

#[test]
fn resource_quota() {
    let q = json!({"metadata": meta("q"), "status": {
        "hard": {"pods": "10", "requests.cpu": "1", "limits.memory": "2Gi", "limits.cpu": "2"},
        "used": {"pods": "3", "requests.cpu": "250m", "limits.cpu": "500m"}}});
    assert_eq!(
        headers("", "v1", "ResourceQuota", false),
        ["NAME", "AGE", "REQUEST", "LIMIT"]
    );
    assert_eq!(
        text(&row("", "v1", "ResourceQuota", &q)),
        [
            "q",
            "3d2h",
            "pods: 3/10, requests.cpu: 250m/1",
            "limits.cpu: 500m/2, limits.memory: 0/2Gi"
        ]
    );
}

#[test]
fn events_core_and_events_k8s_io() {
    assert_eq!(
        headers("", "v1", "Event", false),
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    assert_eq!(
        headers("events.k8s.io", "v1", "Event", true),
        [
            "LAST SEEN",
            "TYPE",
            "REASON",
            "OBJECT",
            "SUBOBJECT",
            "SOURCE",
            "MESSAGE",
            "FIRST SEEN",
            "COUNT",
            "NAME"
        ]
    );
    let ev = json!({"metadata": {"name": "web.17c", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{nginx}"},
        "reason": "Pulled", "message": "Successfully pulled image \"nginx\"\n", "type": "Normal",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ago(600), "lastTimestamp": ago(30), "count": 4});
    assert_eq!(
        row("", "v1", "Event", &ev),
        [
            json!("30s"),
            json!("Normal"),
            json!("Pulled"),
            json!("pod/web"),
            json!("spec.containers{nginx}"),
            json!("kubelet, node-1"),
            json!("Successfully pulled image \"nginx\""),
            json!("10m"),
            json!(4),
            json!("web.17c")
        ]
    );
    let new_style = json!({"metadata": {"name": "e2"}, "eventTime": "2024-05-01T11:59:00.000000Z",
        "regarding": {"kind": "Node", "name": "node-1"}, "note": "Starting kubelet.", "reason": "Starting",
        "type": "Normal", "reportingController": "kubelet", "reportingInstance": "node-1"});
    assert_eq!(
        text(&row("events.k8s.io", "v1", "Event", &new_style)),
        [
            "60s",
            "Normal",
            "Starting",
            "node/node-1",
            "",
            "kubelet, node-1",
            "Starting kubelet.",
            "60s",
            "1",
            "e2"
        ]
    );
    let series = json!({"metadata": {"name": "e3"}, "eventTime": ago(900), "involvedObject": {"kind": "Pod", "name": "p"},
        "series": {"count": 7, "lastObservedTime": ago(20)}, "reportingComponent": "default-scheduler"});
    assert_eq!(
        text(&row("", "v1", "Event", &series)),
        [
            "20s",
            "",
            "",
            "pod/p",
            "",
            "default-scheduler",
            "",
            "15m",
            "7",
            "e3"
        ]
    );
}
