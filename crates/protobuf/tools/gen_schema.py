#!/usr/bin/env python3
"""Generates crates/protobuf/data/schema.json, the protobuf schema table of rkube-protobuf.

Inputs (both from the local cargo registry, no network):
  * k8s-pb 0.9.0   -- prost-generated Rust for every Kubernetes proto message:
                      gives message names, field tags, wire types and field types.
  * k8s-openapi 0.29 (v1_33..v1_37 merged) -- serde code for every Kubernetes type:
                      gives the exact JSON property names ("podIPs", "volumeID", ...).

A proto field is matched to its JSON name by comparing names with everything but
letters and digits removed, lowercased ("pod_i_ps" ~ "podIPs", "r#ref" ~ "$ref"),
first within the same-named type of the same package, then the same-named type in any
package, then any property anywhere; failing all that the snake_case name is
camel-cased.

Output format (compact JSON):
  {"messages": {"<proto full name>": [[tag, "jsonName", "type", flags], ...]}}
flags: 1 = repeated, 2 = inline (Go embeds the struct with `json:",inline"`; its
properties live in the parent object and jsonName is "").
type is one of: string int32 int64 bool double bytes, "message:<full name>",
"map:string", "map:bytes", "map:message:<full name>".

Usage: python3 crates/protobuf/tools/gen_schema.py [--pb DIR] [--openapi DIR] [--out FILE]
"""

import argparse
import glob
import json
import os
import re
import sys
from collections import Counter, defaultdict


def find_registry_dir(name):
    hits = sorted(glob.glob(os.path.expanduser(f"~/.cargo/registry/src/*/{name}")))
    if not hits:
        sys.exit(f"cannot find {name} in ~/.cargo/registry/src (run `cargo fetch` with it as a dependency)")
    return hits[-1]


def norm(s):
    return re.sub(r"[^a-z0-9]", "", s.lower())


def camel(snake):
    snake = snake.removeprefix("r#")
    parts = snake.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


FIELD_RE = re.compile(
    r"#\[prost\((?P<attr>[^\]]*?)\)\]\s*pub\s+(?P<name>(?:r#)?\w+):(?P<ty>.*?),\s*(?=\n\s*(?:///|#\[|\})|\s*\Z)",
    re.S,
)
STRUCT_RE = re.compile(r"^pub struct (\w+) \{\n(.*?)^\}", re.S | re.M)


def parse_pb(pb_src):
    """Returns {module tuple: {prost struct name: [(tag, snake, kind, repeated, type_path|None)]}}."""
    out = {}
    for path in glob.glob(os.path.join(pb_src, "**", "mod.rs"), recursive=True):
        rel = os.path.relpath(os.path.dirname(path), pb_src)
        module = tuple(rel.split(os.sep))
        text = open(path, encoding="utf-8").read()
        structs = {}
        for m in STRUCT_RE.finditer(text):
            fields = []
            for f in FIELD_RE.finditer(m.group(2)):
                attr = f.group("attr")
                tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
                ty = " ".join(f.group("ty").split())
                paths = [t for t in re.findall(r"(?:\w+::)*\w+|::[\w:]+", ty) if not t.startswith("::")]
                type_path = paths[-1] if paths else None
                repeated = "repeated" in attr
                mm = re.match(r'btree_map = "string, (\w+)"', attr.strip())
                if mm:
                    kind = "map:" + mm.group(1)
                else:
                    kind = attr.split(",")[0].strip()
                    if kind.startswith("bytes"):
                        kind = "bytes"
                fields.append((tag, f.group("name"), kind, repeated, type_path))
            structs[m.group(1)] = fields
        if structs:
            out[module] = structs
    return out


def parse_openapi(oa_srcs):
    """Returns {module tuple: {lower struct name: (struct name, [json names])}}, merged over versions."""
    out = defaultdict(dict)
    for oa_src in oa_srcs:
        parse_openapi_one(oa_src, out)
    return out


def parse_openapi_one(oa_src, out):
    for path in glob.glob(os.path.join(oa_src, "**", "*.rs"), recursive=True):
        rel = os.path.relpath(os.path.dirname(path), oa_src)
        module = tuple(rel.split(os.sep))
        text = open(path, encoding="utf-8").read()
        sm = re.search(r"^pub struct (\w+)", text, re.M)
        if not sm:
            continue
        names = re.findall(r'"([^"]+)" => Field::Key_', text)
        low = sm.group(1).lower()
        if low in out[module]:
            prev = out[module][low][1]
            names = prev + [n for n in names if n not in prev]
        out[module][low] = (sm.group(1), names)


def full_name(module, name):
    return "k8s.io." + ".".join(module) + "." + name


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--pb", default=None, help="k8s-pb-0.9.0/src")
    ap.add_argument("--openapi", default=None, help="k8s-openapi-0.29.0/src (all v1_* folders are merged)")
    ap.add_argument("--out", default=os.path.join(here, "..", "data", "schema.json"))
    args = ap.parse_args()
    pb_src = args.pb or os.path.join(find_registry_dir("k8s-pb-0.9.0"), "src")
    oa_root = args.openapi or os.path.join(find_registry_dir("k8s-openapi-0.29.0"), "src")
    # k8s-pb 0.9.0 follows a newer Kubernetes than 1.33: merge every version's names.
    oa_src = sorted(glob.glob(os.path.join(oa_root, "v1_*")))

    pb = parse_pb(pb_src)
    oa = parse_openapi(oa_src)

    # Real (Go) type names where k8s-openapi knows the type; else the prost name.
    by_lower_any = defaultdict(list)
    for mod, types in oa.items():
        for low, (real, names) in types.items():
            by_lower_any[low].append((real, names))
    global_names = defaultdict(Counter)
    for mod, types in oa.items():
        for low, (real, names) in types.items():
            for n in names:
                global_names[norm(n)][n] += 1

    def real_name(module, prost_name):
        low = prost_name.lower()
        if low in oa.get(module, {}):
            return oa[module][low][0]
        if low in by_lower_any:
            return by_lower_any[low][0][0]
        return prost_name

    def resolve(module, type_path):
        parts = type_path.split("::")
        mod = list(module)
        for p in parts[:-1]:
            if p == "super":
                mod.pop()
            else:
                mod.append(p)
        return full_name(tuple(mod), real_name(tuple(mod), parts[-1]))

    unmatched = []
    messages = {}
    for module, structs in sorted(pb.items()):
        for prost_name, fields in sorted(structs.items()):
            real = real_name(module, prost_name)
            low = prost_name.lower()
            local = oa.get(module, {}).get(low)
            candidates = [local[1]] if local else []
            candidates += [names for (_, names) in by_lower_any.get(low, [])]
            rows = []
            for tag, snake, kind, repeated, type_path in sorted(fields):
                json_name = None
                key = norm(snake.removeprefix("r#"))
                for names in candidates:
                    for n in names:
                        if norm(n) == key:
                            json_name = n
                            break
                    if json_name:
                        break
                inline = False
                if not json_name and local and kind == "message":
                    # Go embeds this struct with `json:",inline"`: its fields sit in the parent.
                    inline = True
                    json_name = ""
                if json_name is None and key in global_names:
                    json_name = global_names[key].most_common(1)[0][0]
                if json_name is None:
                    json_name = camel(snake)
                    unmatched.append(f"{full_name(module, real)}.{snake} -> {json_name}")
                if kind == "message":
                    ty = "message:" + resolve(module, type_path)
                elif kind == "map:message":
                    ty = "map:message:" + resolve(module, type_path)
                else:
                    ty = kind
                rows.append([tag, json_name, ty, (1 if repeated else 0) | (2 if inline else 0)])
            messages[full_name(module, real)] = rows

    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"messages": messages}, f, separators=(",", ":"), sort_keys=True)
        f.write("\n")
    print(f"wrote {len(messages)} messages to {os.path.normpath(args.out)}", file=sys.stderr)
    for u in unmatched:
        print("fallback name:", u, file=sys.stderr)


if __name__ == "__main__":
    main()
