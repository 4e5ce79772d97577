"""create/get/list/watch/patch/delete through the official Python Kubernetes client.

Run with KUBECONFIG pointing at an rkube server; exits non-zero on the first failure.
"""
import threading
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config()
v1 = client.CoreV1Api()
apps = client.AppsV1Api()
NS = "pyclient"

v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NS)))

seen = []
ready = threading.Event()


def watcher(rv):
    w = watch.Watch()
    ready.set()
    for ev in w.stream(v1.list_namespaced_config_map, namespace=NS, resource_version=rv, timeout_seconds=10):
        seen.append((ev["type"], ev["object"].metadata.name))
        if ev["type"] == "DELETED":
            w.stop()


rv = v1.list_namespaced_config_map(NS).metadata.resource_version
t = threading.Thread(target=watcher, args=(rv,))
t.start()
ready.wait()

cm = v1.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c1", labels={"app": "py"}), data={"a": "1"}))
assert cm.metadata.uid and cm.metadata.resource_version, cm
got = v1.read_namespaced_config_map("c1", NS)
assert got.data == {"a": "1"}, got.data
lst = v1.list_namespaced_config_map(NS, label_selector="app=py")
assert [i.metadata.name for i in lst.items] == ["c1"], lst
patched = v1.patch_namespaced_config_map("c1", NS, {"data": {"b": "2"}})
assert patched.data == {"a": "1", "b": "2"}, patched.data

try:
    v1.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c1")))
    raise SystemExit("duplicate create succeeded")
except ApiException as e:
    assert e.status == 409, e

dep = apps.create_namespaced_deployment(NS, client.V1Deployment(
    metadata=client.V1ObjectMeta(name="d1"),
    spec=client.V1DeploymentSpec(
        replicas=2,
        selector=client.V1LabelSelector(match_labels={"app": "d1"}),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels={"app": "d1"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx")])))))
assert dep.spec.strategy.type == "RollingUpdate", dep.spec.strategy
scale = apps.patch_namespaced_deployment_scale("d1", NS, {"spec": {"replicas": 4}})
assert scale.spec.replicas == 4, scale

v1.delete_namespaced_config_map("c1", NS)
try:
    v1.read_namespaced_config_map("c1", NS)
    raise SystemExit("deleted object still readable")
except ApiException as e:
    assert e.status == 404, e

t.join(timeout=15)
kinds = [k for k, n in seen if n == "c1"]
assert kinds[:1] == ["ADDED"] and "MODIFIED" in kinds and kinds[-1] == "DELETED", seen
print("python client scenario: ok")
