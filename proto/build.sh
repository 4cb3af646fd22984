#!/usr/bin/env bash
# Ensures the compiled Envoy API proto library exists in the cache and prints
# its prefix. Keyed by everything that affects the result, so a machine that
# built it once reuses it and a change of pin or compiler rebuilds it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache="${PROPSY_CACHE:-$HOME/.cache/propsy}"
key=$( (cat "$here/versions.env" "$here/roots.txt" "$here/CMakeLists.txt" "$here/closure.py" "$0";
        protoc --version; c++ --version | head -1) | sha256sum | cut -c1-16)
prefix="$cache/envoy-protos-$key"
if [ -f "$prefix/.complete" ]; then echo "$prefix"; exit 0; fi

# Several checkouts (worktrees, sanitizer builds) may configure at once: one
# builds, the others wait for it and reuse the result.
mkdir -p "$cache"
exec 9>"$cache/envoy-protos-$key.lock"
flock -w 3600 9 || { echo "proto/build.sh: waited an hour for another build of $prefix" >&2; exit 1; }
if [ -f "$prefix/.complete" ]; then echo "$prefix"; exit 0; fi

work="$cache/envoy-protos-build-$key"
rm -rf "$work" && mkdir -p "$work/src"
{
  echo "proto/build.sh: fetching @grpc/grpc-js-xds@$GRPC_JS_XDS_VERSION and protoc-gen-validate@$PGV_VERSION"
  (cd "$work" && npm pack --silent "@grpc/grpc-js-xds@$GRPC_JS_XDS_VERSION" >/dev/null && tar xzf grpc-grpc-js-xds-*.tgz)
  for d in envoy-api xds googleapis; do cp -r "$work/package/deps/$d/." "$work/src/"; done
  echo "proto/build.sh: fetching grpc-health-check@$GRPC_HEALTH_CHECK_VERSION (grpc.health.v1)"
  mkdir -p "$work/health" "$work/src/grpc/health/v1"
  (cd "$work/health" && npm pack --silent "grpc-health-check@$GRPC_HEALTH_CHECK_VERSION" >/dev/null && tar xzf grpc-health-check-*.tgz)
  cp "$work/health/package/proto/health/v1/health.proto" "$work/src/grpc/health/v1/"
  pgv_dir=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/envoyproxy/protoc-gen-validate@$PGV_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  mkdir -p "$work/src/validate" && cp "$pgv_dir/validate/validate.proto" "$work/src/validate/"
  python3 "$here/closure.py" "$here/roots.txt" "$work/src" > "$work/protos.txt"
  echo "proto/build.sh: compiling $(wc -l < "$work/protos.txt") protos"
  start=$(date +%s)
  cmake -S "$here" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPROTO_ROOT="$work/src" -DPROTO_LIST="$work/protos.txt" -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
  cmake --build "$work/build" -j "${PROPSY_PROTO_JOBS:-2}"
  cmake --install "$work/build" >/dev/null
  mkdir -p "$prefix/share" && cp -r "$work/src" "$prefix/share/proto"
  echo "proto/build.sh: built in $(( $(date +%s) - start ))s into $prefix"
} >&2
touch "$prefix/.complete"
rm -rf "$work"
echo "$prefix"
