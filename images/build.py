#!/usr/bin/env python3
"""Builds rkube's test images offline and pushes them to the local registry.

busybox  from Debian's busybox-static: /bin/busybox, every applet linked in /bin
pause    our static `pause` (crates/pause)
nginx    Debian's nginx laid out like the official image, on the busybox layer
testapp  our static `testapp` (crates/testapp), on the busybox layer

Layers are deterministic tars (sorted, fixed times and owners), gzipped; each
image is a Docker v2 schema 2 manifest with an image config like the official
images' (Entrypoint, Cmd, Env, ExposedPorts, StopSignal). Images are pushed
through the registry's HTTP API under the repository paths containerd asks a
mirror for (docker.io/library/busybox -> library/busybox, registry.k8s.io/pause
-> pause). Blobs and manifests the registry already has are not sent again, so a
second run only hashes. Standard library only.

usage: build.py --registry 127.0.0.1:5000 --pause PATH --testapp PATH [--only NAME ...]
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
# Every file gets this modification time, so layers hash the same on every run.
EPOCH = 1700000000
CREATED = "2023-11-14T22:13:20Z"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"

# Repository (as the mirror sees it) -> tags. Version tags that tutorials name
# point at the same image, so their manifests run unmodified.
TAGS = {
    "busybox": ["library/busybox:" + t for t in ["latest", "stable", "1.28", "1.35", "1.36"]],
    "pause": ["pause:" + t for t in ["3.10", "3.9", "3.8", "3.6"]],
    "nginx": ["library/nginx:" + t
              for t in ["latest", "stable", "mainline", "alpine", "1.14.2", "1.22", "1.22.1"]],
    "testapp": ["library/testapp:" + t for t in ["latest", "0.1"]],
}


class Layer:
    """The files of one layer, written as a deterministic tar."""

    def __init__(self, name):
        self.name = name
        self.entries = {}  # path -> (kind, payload, mode)

    def dir(self, path, mode=0o755):
        self.entries[path.strip("/")] = ("dir", None, mode)

    def file(self, path, data, mode=0o644):
        if isinstance(data, str):
            data = data.encode()
        self.entries[path.strip("/")] = ("file", data, mode)

    def copy(self, path, src, mode=None):
        """Copies the file src (following symlinks) to path."""
        with open(src, "rb") as f:
            data = f.read()
        if mode is None:
            mode = os.stat(src).st_mode & 0o7777
        self.file(path, data, mode)

    def symlink(self, path, target):
        self.entries[path.strip("/")] = ("symlink", target, 0o777)

    def tar(self):
        # Parent directories first, then everything in path order.
        for path in list(self.entries):
            parent = os.path.dirname(path)
            while parent and parent not in self.entries:
                self.entries[parent] = ("dir", None, 0o755)
                parent = os.path.dirname(parent)
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for path in sorted(self.entries):
                kind, payload, mode = self.entries[path]
                info = tarfile.TarInfo(path)
                info.mtime = EPOCH
                info.mode = mode
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                if kind == "dir":
                    info.type = tarfile.DIRTYPE
                    tar.addfile(info)
                elif kind == "symlink":
                    info.type = tarfile.SYMTYPE
                    info.linkname = payload
                    tar.addfile(info)
                else:
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
        return out.getvalue()


class Blob:
    def __init__(self, data, media_type):
        self.data = data
        self.media_type = media_type
        self.digest = "sha256:" + hashlib.sha256(data).hexdigest()

    def descriptor(self):
        return {"mediaType": self.media_type, "size": len(self.data), "digest": self.digest}


def compress(layer):
    """The gzipped blob of a layer and its diff id (the digest of the plain tar)."""
    if getattr(layer, "compressed", None):
        return layer.compressed
    plain = layer.tar()
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as gz:
        gz.write(plain)
    layer.compressed = Blob(buf.getvalue(), LAYER_TYPE), "sha256:" + hashlib.sha256(plain).hexdigest()
    return layer.compressed


class Image:
    def __init__(self, name, layers, config):
        self.name = name
        blobs = [compress(layer) for layer in layers]
        self.layers = [b for b, _ in blobs]
        image_config = {
            "architecture": "amd64",
            "os": "linux",
            "created": CREATED,
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [d for _, d in blobs]},
            "history": [
                {"created": CREATED, "created_by": f"rkube images/build.py: {layer.name}"}
                for layer in layers
            ],
        }
        self.config = Blob(canonical(image_config), CONFIG_TYPE)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": self.config.descriptor(),
            "layers": [b.descriptor() for b in self.layers],
        }
        self.manifest = canonical(manifest)
        self.digest = "sha256:" + hashlib.sha256(self.manifest).hexdigest()


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


# ---- the layers ----

def busybox_layer():
    layer = Layer("busybox from Debian's busybox-static")
    for d in ["bin", "dev", "etc", "home", "proc", "run", "sbin", "sys", "usr/bin", "usr/sbin",
              "usr/local/bin", "var/log", "var/spool/mail", "var/www", "var/tmp"]:
        layer.dir(d)
    layer.dir("root", 0o700)
    layer.dir("tmp", 0o1777)
    layer.dir("var/tmp", 0o1777)
    layer.symlink("var/run", "../run")
    layer.copy("bin/busybox", "/bin/busybox", 0o755)
    applets = subprocess.run(["/bin/busybox", "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    for applet in applets:
        if applet != "busybox" and "/" not in applet:
            layer.symlink("bin/" + applet, "busybox")
    for name in ["passwd", "group", "nsswitch.conf"]:
        layer.copy("etc/" + name, os.path.join(HERE, "base", name), 0o644)
    return layer


def library_paths(binary):
    """The shared libraries `binary` loads (by ldd), plus libgcc_s, which glibc
    loads at thread exit."""
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    paths = []
    for line in out.splitlines():
        m = re.search(r"(/\S+) \(0x", line)
        if m:
            paths.append(m.group(1))
    for candidate in ["/lib/x86_64-linux-gnu/libgcc_s.so.1", "/usr/lib/x86_64-linux-gnu/libgcc_s.so.1"]:
        if os.path.exists(candidate):
            paths.append(candidate)
            break
    return paths


def nginx_version():
    out = subprocess.run(["/usr/sbin/nginx", "-v"], check=True, capture_output=True, text=True)
    m = re.search(r"nginx/(\S+)", out.stderr + out.stdout)
    return m.group(1) if m else "unknown"


def nginx_layer():
    layer = Layer("nginx from Debian's nginx-light, laid out like the official image")
    layer.copy("usr/sbin/nginx", "/usr/sbin/nginx", 0o755)
    for lib in library_paths("/usr/sbin/nginx"):
        layer.copy(lib, lib, 0o755)
    nginx_dir = os.path.join(HERE, "nginx")
    layer.copy("etc/nginx/nginx.conf", os.path.join(nginx_dir, "nginx.conf"), 0o644)
    layer.copy("etc/nginx/conf.d/default.conf", os.path.join(nginx_dir, "default.conf"), 0o644)
    for name in ["mime.types", "fastcgi_params", "scgi_params", "uwsgi_params"]:
        layer.copy("etc/nginx/" + name, "/etc/nginx/" + name, 0o644)
    # Upstream's default page, as Debian's nginx-common ships it.
    layer.copy("usr/share/nginx/html/index.html", "/usr/share/nginx/html/index.html", 0o644)
    layer.copy("usr/share/nginx/html/50x.html", os.path.join(nginx_dir, "50x.html"), 0o644)
    # Logs go to the container's output; Debian's build keeps temp files here.
    layer.symlink("var/log/nginx/access.log", "/dev/stdout")
    layer.symlink("var/log/nginx/error.log", "/dev/stderr")
    layer.dir("var/lib/nginx")
    layer.dir("var/cache/nginx")
    # The workers' user, as in the official image (uid/gid 101).
    with open(os.path.join(HERE, "base", "passwd")) as f:
        layer.file("etc/passwd", f.read() + "nginx:x:101:101:nginx user:/nonexistent:/bin/false\n")
    with open(os.path.join(HERE, "base", "group")) as f:
        layer.file("etc/group", f.read() + "nginx:x:101:\n")
    return layer


def binary_layer(name, src, dest, links=()):
    layer = Layer(f"{name} ({dest})")
    layer.copy(dest, src, 0o755)
    for link in links:
        layer.symlink(link, "/" + dest.strip("/"))
    return layer


def images(args):
    base = busybox_layer()
    built = {}
    wanted = set(args.only or TAGS)
    if "busybox" in wanted:
        built["busybox"] = Image("busybox", [base], {"Env": [PATH_ENV], "Cmd": ["sh"]})
    if "pause" in wanted:
        built["pause"] = Image("pause", [binary_layer("pause", args.pause, "pause")], {
            "Env": [PATH_ENV], "Entrypoint": ["/pause"], "User": "65535:65535"})
    if "nginx" in wanted:
        built["nginx"] = Image("nginx", [base, nginx_layer()], {
            "Env": [PATH_ENV, "NGINX_VERSION=" + nginx_version()],
            "Cmd": ["nginx", "-g", "daemon off;"],
            "ExposedPorts": {"80/tcp": {}},
            "StopSignal": "SIGQUIT",
        })
    if "testapp" in wanted:
        app = binary_layer("testapp", args.testapp, "testapp", ["usr/local/bin/testapp"])
        built["testapp"] = Image("testapp", [base, app], {
            "Env": [PATH_ENV],
            "Entrypoint": ["/testapp"],
            "Cmd": ["serve", "--port", "8080"],
            "ExposedPorts": {"8080/tcp": {}},
        })
    return built


# ---- the registry's HTTP API ----

class Registry:
    def __init__(self, address):
        self.base = f"http://{address}"
        # Never through a proxy: the registry is on this machine.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.sent = 0
        self.known = {}  # digest -> a repository that has it

    def request(self, method, url, data=None, headers=None):
        req = urllib.request.Request(urllib.parse.urljoin(self.base, url), data=data,
                                     method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=60) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def check(self):
        status, _, body = self.request("GET", "/v2/")
        if status != 200:
            raise SystemExit(f"build.py: registry {self.base} answers {status}: {body[:200]!r}")

    def has_blob(self, repo, digest):
        return self.request("HEAD", f"/v2/{repo}/blobs/{digest}")[0] == 200

    def push_blob(self, repo, blob):
        if self.has_blob(repo, blob.digest):
            self.known.setdefault(blob.digest, repo)
            return
        url = f"/v2/{repo}/blobs/uploads/"
        source = self.known.get(blob.digest)
        if source:
            url += "?" + urllib.parse.urlencode({"mount": blob.digest, "from": source})
        status, headers, body = self.request("POST", url, b"")
        if status == 201:  # mounted from another repository
            return
        if status != 202:
            raise SystemExit(f"build.py: starting an upload to {repo}: {status} {body[:200]!r}")
        location = headers["Location"]
        sep = "&" if "?" in location else "?"
        status, _, body = self.request(
            "PUT", location + sep + urllib.parse.urlencode({"digest": blob.digest}), blob.data,
            {"Content-Type": "application/octet-stream"})
        if status != 201:
            raise SystemExit(f"build.py: uploading {blob.digest} to {repo}: {status} {body[:200]!r}")
        self.sent += len(blob.data)
        self.known.setdefault(blob.digest, repo)

    def push(self, image, reference):
        repo, tag = reference.rsplit(":", 1)
        status, headers, _ = self.request("HEAD", f"/v2/{repo}/manifests/{tag}",
                                          headers={"Accept": MANIFEST_TYPE})
        if status == 200 and headers.get("Docker-Content-Digest") == image.digest:
            return False
        for blob in image.layers + [image.config]:
            self.push_blob(repo, blob)
        status, _, body = self.request("PUT", f"/v2/{repo}/manifests/{tag}", image.manifest,
                                       {"Content-Type": MANIFEST_TYPE})
        if status != 201:
            raise SystemExit(f"build.py: putting the manifest {reference}: {status} {body[:300]!r}")
        return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", default=os.environ.get("RKUBE_REGISTRY_ADDR", "127.0.0.1:5000"))
    parser.add_argument("--pause", help="the static pause binary")
    parser.add_argument("--testapp", help="the static testapp binary")
    parser.add_argument("--only", action="append", choices=sorted(TAGS),
                        help="build only this image (repeatable)")
    args = parser.parse_args()
    for name in ["pause", "testapp"]:
        if name in (args.only or TAGS) and not getattr(args, name):
            parser.error(f"--{name} is required to build the {name} image")

    registry = Registry(args.registry)
    registry.check()
    for name, image in images(args).items():
        pushed = [ref for ref in TAGS[name] if registry.push(image, ref)]
        size = sum(len(b.data) for b in image.layers)
        state = f"pushed {', '.join(pushed)}" if pushed else "up to date"
        print(f"{name:8} {image.digest[:19]}  {size / 1e6:5.1f} MB  {state}")
    if registry.sent:
        print(f"sent {registry.sent / 1e6:.1f} MB to {args.registry}")


if __name__ == "__main__":
    sys.exit(main())
