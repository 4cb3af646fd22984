#!/usr/bin/env bash
# Builds ProPsy's OCI image, tagged propsy:<version> (CMake's project
# VERSION, as `propsy -version` prints it), into
# build/propsy-<version>.oci.tar, from Debian packages alone (SPEC §6):
#   layer 1: scripts/image-rootfs.sh - a minimal bookworm root with only the
#            runtime libraries the binary needs (derived from the binary),
#            CA certificates and user 65532; cached in $PROPSY_CACHE by
#            its package list and scripts, rebuilt at least weekly so
#            Debian's security updates get in;
#   layer 2: the binary (debug info stripped) at /usr/local/bin/propsy.
# Assembled with umoci; the archive is an OCI image layout with a Docker
# manifest.json beside it, so `podman load`, `docker load` and
# `kind load image-archive` all take it. Needs root or unprivileged user
# namespaces (mmdebstrap), mmdebstrap and umoci (scripts/install-deps.sh).
#
# Environment: PROPSY_BUILD_DIR (default build; configured and the propsy
# target built when needed), PROPSY_BINARY (a propsy binary already built,
# instead of building one), SOURCE_DATE_EPOCH (default: the last commit's
# time) for reproducible timestamps.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${PROPSY_BUILD_DIR:-build}"
cache="${PROPSY_CACHE:-$HOME/.cache/propsy}"
for tool in mmdebstrap umoci python3; do
  command -v "$tool" >/dev/null || {
    echo "build-image: $tool is missing (scripts/install-deps.sh installs it)" >&2
    exit 1
  }
done

start=$(date +%s)
binary="${PROPSY_BINARY:-}"
if [ -z "$binary" ]; then
  if [ ! -f "$build/build.ninja" ]; then
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  ninja -C "$build" propsy >/dev/null
  binary="$build/src/main/propsy"
fi
version="$("$binary" -version)"
version="${version#propsy }"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
created="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
archive="$build/propsy-$version.oci.tar"

# Layer 1, cached. Its timestamps are the epoch: its content does not
# depend on the commit.
packages="$(scripts/runtime-packages.sh "$binary")"
key=$( (echo "$packages"; cat scripts/image-rootfs.sh scripts/runtime-packages.sh
        date -u +%G-W%V) | sha256sum | cut -c1-16)
base="$cache/image-base-$key.tar"
if [ ! -f "$base" ]; then
  mkdir -p "$cache"
  partial="$cache/image-base-$key.partial.tar"  # mmdebstrap: a .tar name makes a tarball
  rm -rf "$partial" "$partial.packages"
  SOURCE_DATE_EPOCH=0 scripts/image-rootfs.sh "$binary" "$partial"
  mv "$partial.packages" "$base.packages"
  mv "$partial" "$base"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/propsy-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Layer 2: the binary, with its symbols (readable stack traces) but not
# its debug information.
mkdir -p "$work/app/usr/local/bin"
objcopy --strip-debug "$binary" "$work/app/usr/local/bin/propsy"
chmod 0755 "$work/app/usr/local/bin/propsy"
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime --owner=0 --group=0 \
  --numeric-owner --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
  -C "$work/app" -cf "$work/app.tar" ./usr/local/bin/propsy

oci="$work/oci"
image="$oci:$version"
umoci init --layout "$oci"
umoci new --image "$image"
umoci raw add-layer --image "$image" --history.created "$created" \
  --history.created_by "scripts/image-rootfs.sh: Debian bookworm runtime libraries, CA certificates, user 65532" \
  "$base"
umoci raw add-layer --image "$image" --history.created "$created" \
  --history.created_by "scripts/build-image.sh: /usr/local/bin/propsy $version" "$work/app.tar"
umoci config --image "$image" --created "$created" --os linux --architecture amd64 \
  --author "ProPsy" --no-history \
  --config.user 65532:65532 \
  --config.entrypoint /usr/local/bin/propsy \
  --config.workingdir / \
  --config.env PATH=/usr/local/bin:/usr/bin:/bin \
  --config.exposedports 8888/tcp --config.exposedports 8889/tcp \
  --config.label "org.opencontainers.image.title=propsy" \
  --config.label "org.opencontainers.image.description=ProPsy, an Envoy control plane (xDS v3) for ProPsyService objects in several Kubernetes clusters" \
  --config.label "org.opencontainers.image.version=$version" \
  --config.label "org.opencontainers.image.revision=$revision" \
  --config.label "org.opencontainers.image.created=$created"
umoci gc --layout "$oci"

# Name the image propsy:VERSION for every loader: the OCI index annotation
# (podman: localhost/propsy:VERSION) and a Docker manifest.json (docker,
# kind/containerd: propsy:VERSION).
python3 - "$oci" "$version" <<'EOF'
import json, sys
oci, version = sys.argv[1], sys.argv[2]
with open(f"{oci}/index.json") as f:
    index = json.load(f)
[entry] = index["manifests"]
entry["annotations"] = {"org.opencontainers.image.ref.name": f"propsy:{version}",
                        "io.containerd.image.name": f"docker.io/library/propsy:{version}"}
with open(f"{oci}/index.json", "w") as f:
    json.dump(index, f, separators=(",", ":"))
digest = entry["digest"].split(":", 1)[1]
with open(f"{oci}/blobs/sha256/{digest}") as f:
    manifest = json.load(f)
blob = lambda d: "blobs/sha256/" + d["digest"].split(":", 1)[1]
with open(f"{oci}/manifest.json", "w") as f:
    json.dump([{"Config": blob(manifest["config"]), "RepoTags": [f"propsy:{version}"],
                "Layers": [blob(layer) for layer in manifest["layers"]]}], f,
              separators=(",", ":"))
EOF
chmod 0644 "$oci"/blobs/sha256/*
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
  -C "$oci" -cf "$archive.partial" .
mv "$archive.partial" "$archive"
cp "$base.packages" "$build/propsy-$version.packages"

compressed=$(du -b "$oci"/blobs/sha256/* | awk '{ s += $1 } END { print s }')
uncompressed=$(( $(stat -c %s "$base") + $(stat -c %s "$work/app.tar") ))
echo "build-image: propsy:$version -> $archive"
echo "build-image: $(wc -l < "$base.packages") Debian packages (list in $build/propsy-$version.packages)"
echo "build-image: size $((compressed / 1000000)) MB compressed, $((uncompressed / 1000000)) MB uncompressed; $(( $(date +%s) - start ))s"
