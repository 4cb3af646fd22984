#!/usr/bin/env python3
"""Unpacks an OCI image archive the way a container runtime would.

usage: unpack_image.py ARCHIVE DEST

Reads the archive's OCI layout (oci-layout, index.json -> manifest ->
config and layers), checks every blob against its digest, and extracts the
layers in order into DEST/rootfs, applying whiteouts; writes the image
config to DEST/config.json. Ownership and modes are kept (run as root), so
DEST/rootfs holds the same files a runtime would run. Only Python's
standard library: the check does not depend on the tool that built the
image.
"""
import gzip
import hashlib
import io
import json
import os
import shutil
import sys
import tarfile


def fail(message):
    sys.exit(f"unpack_image: {message}")


def main():
    if len(sys.argv) != 3:
        fail("usage: unpack_image.py ARCHIVE DEST")
    archive, dest = sys.argv[1], sys.argv[2]
    rootfs = os.path.join(dest, "rootfs")
    os.makedirs(rootfs)
    with tarfile.open(archive) as outer:
        names = {m.name[2:] if m.name.startswith("./") else m.name: m
                 for m in outer.getmembers()}

        def blob(descriptor):
            algorithm, digest = descriptor["digest"].split(":", 1)
            name = f"blobs/{algorithm}/{digest}"
            if name not in names:
                fail(f"missing blob {name}")
            data = outer.extractfile(names[name]).read()
            if hashlib.new(algorithm, data).hexdigest() != digest:
                fail(f"blob {name} does not match its digest")
            if len(data) != descriptor["size"]:
                fail(f"blob {name} has {len(data)} bytes, its descriptor says {descriptor['size']}")
            return data

        layout = json.loads(outer.extractfile(names["oci-layout"]).read())
        if layout.get("imageLayoutVersion") != "1.0.0":
            fail(f"unexpected oci-layout {layout}")
        index = json.loads(outer.extractfile(names["index.json"]).read())
        if len(index["manifests"]) != 1:
            fail(f"expected one manifest in index.json, found {len(index['manifests'])}")
        manifest = json.loads(blob(index["manifests"][0]))
        config = json.loads(blob(manifest["config"]))
        if len(config["rootfs"]["diff_ids"]) != len(manifest["layers"]):
            fail("config diff_ids and manifest layers differ in number")
        for layer, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"]):
            data = blob(layer)
            raw = gzip.decompress(data) if layer["mediaType"].endswith("+gzip") else data
            if "sha256:" + hashlib.sha256(raw).hexdigest() != diff_id:
                fail(f"layer {layer['digest']} does not match its diff_id {diff_id}")
            extract_layer(raw, rootfs)
        with open(os.path.join(dest, "config.json"), "w") as f:
            json.dump({"index": index, "manifest": manifest, "config": config}, f, indent=1)


def extract_layer(raw, rootfs):
    with tarfile.open(fileobj=io.BytesIO(raw)) as layer:
        members = []
        for member in layer.getmembers():
            path = os.path.normpath(member.name)
            if path.startswith("..") or os.path.isabs(path):
                fail(f"layer entry {member.name} points outside the root")
            base = os.path.basename(path)
            parent = os.path.dirname(path)
            if base == ".wh..wh..opq":
                target = os.path.join(rootfs, parent)
                for child in os.listdir(target) if os.path.isdir(target) else []:
                    remove(os.path.join(target, child))
                continue
            if base.startswith(".wh."):
                remove(os.path.join(rootfs, parent, base[len(".wh."):]))
                continue
            members.append(member)
        layer.extractall(rootfs, members=members, numeric_owner=True)


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


if __name__ == "__main__":
    main()
