//! Tests for autoscaling, coordination, discovery, networking, policy, scheduling, storage and RBAC kinds.

use serde_json::json;

use super::{ago, headers, row, text};

#[test]
fn hpa_v2_and_v1() {
    assert_eq!(
        headers("autoscaling", "v2", "HorizontalPodAutoscaler", true),
        [
            "NAME",
            "REFERENCE",
            "TARGETS",
            "MINPODS",
            "MAXPODS",
            "REPLICAS",
            "AGE"
        ]
    );
    let v2 = json!({"metadata": {"name": "web", "creationTimestamp": ago(90)},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 10,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]},
        "status": {"currentReplicas": 2, "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 12, "averageValue": "6m"}}}]}});
    assert_eq!(
        row("autoscaling", "v2", "HorizontalPodAutoscaler", &v2),
        [
            json!("web"),
            json!("Deployment/web"),
            json!("cpu: 12%/50%"),
            json!("1"),
            json!(10),
            json!(2),
            json!("90s")
        ]
    );
    let unknown = json!({"metadata": {"name": "w"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "w"}, "maxReplicas": 3,
        "metrics": [
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
            {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}},
            {"type": "External", "external": {"metric": {"name": "q"}, "target": {"type": "Value", "value": "30"}}}]}});
    assert_eq!(
        text(&row(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            &unknown
        ))[2..4],
        [
            "memory: <unknown>/100Mi, <unknown>/1k + 1 more...",
            "<unset>"
        ]
    );
    let v1 = json!({"metadata": {"name": "web"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"},
        "minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 80},
        "status": {"currentReplicas": 2, "currentCPUUtilizationPercentage": 33}});
    assert_eq!(
        text(&row("autoscaling", "v1", "HorizontalPodAutoscaler", &v1))[2],
        "cpu: 33%/80%"
    );
    let none = json!({"metadata": {"name": "n"}, "spec": {"maxReplicas": 1}});
    assert_eq!(
        text(&row("autoscaling", "v1", "HorizontalPodAutoscaler", &none))[1..3],
        ["/", "<none>"]
    );
}

#[test]
fn leases_and_endpoint_slices() {
    let lease = json!({"metadata": {"name": "node-1", "creationTimestamp": ago(10)}, "spec": {"holderIdentity": "node-1"}});
    assert_eq!(
        text(&row("coordination.k8s.io", "v1", "Lease", &lease)),
        ["node-1", "node-1", "10s"]
    );
    let slice = json!({"metadata": {"name": "web-abc12", "creationTimestamp": ago(10)}, "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "named"}],
        "endpoints": [{"addresses": ["10.42.0.5"]}, {"addresses": ["10.42.0.6"]}, {"addresses": ["10.42.0.7"]}, {"addresses": ["10.42.0.8"]}]});
    assert_eq!(
        text(&row("discovery.k8s.io", "v1", "EndpointSlice", &slice)),
        [
            "web-abc12",
            "IPv4",
            "80,named",
            "10.42.0.5,10.42.0.6,10.42.0.7 + 1 more...",
            "10s"
        ]
    );
    let empty = json!({"metadata": {"name": "e"}, "addressType": "IPv4"});
    assert_eq!(
        text(&row("discovery.k8s.io", "v1", "EndpointSlice", &empty))[2..4],
        ["<unset>", "<unset>"]
    );
}

#[test]
fn ingresses_and_network_policies() {
    assert_eq!(
        headers("networking.k8s.io", "v1", "Ingress", false),
        ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    );
    let ing = json!({"metadata": {"name": "web", "creationTimestamp": ago(10)},
        "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.example.com"]}],
            "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}, {}, {"host": "c.example.com"}, {"host": "d.example.com"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.10"}]}}});
    assert_eq!(
        text(&row("networking.k8s.io", "v1", "Ingress", &ing)),
        [
            "web",
            "nginx",
            "a.example.com,b.example.com,c.example.com + 2 more...",
            "192.168.1.10",
            "80, 443",
            "10s"
        ]
    );
    let bare = json!({"metadata": {"name": "b"}, "spec": {"defaultBackend": {}}});
    assert_eq!(
        text(&row("networking.k8s.io", "v1", "Ingress", &bare))[1..5],
        ["<none>", "*", "", "80"]
    );
    let class = json!({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx",
        "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}});
    assert_eq!(
        text(&row("networking.k8s.io", "v1", "IngressClass", &class))[1..3],
        [
            "k8s.io/ingress-nginx",
            "IngressParameters.k8s.example.com/external-lb"
        ]
    );
    let np = json!({"metadata": {"name": "deny"}, "spec": {"podSelector": {}}});
    assert_eq!(
        text(&row("networking.k8s.io", "v1", "NetworkPolicy", &np))[1],
        "<none>"
    );
    let np = json!({"metadata": {"name": "db"}, "spec": {"podSelector": {"matchLabels": {"role": "db"}}}});
    assert_eq!(
        text(&row("networking.k8s.io", "v1", "NetworkPolicy", &np))[1],
        "role=db"
    );
}

#[test]
fn pdbs_priority_and_storage_classes() {
    let pdb = json!({"metadata": {"name": "web"}, "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}});
    assert_eq!(
        row("policy", "v1", "PodDisruptionBudget", &pdb)[1..4],
        [json!("50%"), json!("N/A"), json!(1)]
    );
    let pdb = json!({"metadata": {"name": "web"}, "spec": {"maxUnavailable": 1}});
    assert_eq!(
        text(&row("policy", "v1", "PodDisruptionBudget", &pdb))[1..4],
        ["N/A", "1", "0"]
    );
    assert_eq!(
        headers("scheduling.k8s.io", "v1", "PriorityClass", false),
        ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"]
    );
    let pc = json!({"metadata": {"name": "system-node-critical", "creationTimestamp": ago(3600)}, "value": 2000001000, "preemptionPolicy": "PreemptLowerPriority"});
    assert_eq!(
        row("scheduling.k8s.io", "v1", "PriorityClass", &pc),
        [
            json!("system-node-critical"),
            json!(2000001000),
            json!(false),
            json!("60m"),
            json!("PreemptLowerPriority")
        ]
    );
    let sc = json!({"metadata": {"name": "local-path", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer"});
    assert_eq!(
        row("storage.k8s.io", "v1", "StorageClass", &sc)[..5],
        [
            json!("local-path (default)"),
            json!("rancher.io/local-path"),
            json!("Delete"),
            json!("WaitForFirstConsumer"),
            json!(false)
        ]
    );
}

#[test]
fn role_bindings() {
    assert_eq!(
        headers(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            true
        ),
        ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    );
    let rb = json!({"metadata": {"name": "admins", "creationTimestamp": ago(5)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"}, {"kind": "Group", "name": "ops"},
                     {"kind": "ServiceAccount", "name": "ci", "namespace": "build"}]});
    assert_eq!(
        text(&row("rbac.authorization.k8s.io", "v1", "RoleBinding", &rb)),
        [
            "admins",
            "ClusterRole/admin",
            "5s",
            "alice, bob",
            "ops",
            "build/ci"
        ]
    );
}
