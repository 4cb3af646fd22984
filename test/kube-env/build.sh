#!/usr/bin/env bash
# Builds kube-apiserver and etcd from Go modules (versions in versions.env)
# into ${PROPSY_CACHE:-$HOME/.cache/propsy}/kube-env-<key>/bin, where <key>
# hashes versions.env and this script. When both binaries already exist it
# does nothing. The last line on stdout is the bin directory; everything else
# goes to stderr.
#
# Each binary is built in its own scratch module under the cache directory so
# that etcd's dependency versions and Kubernetes' never meet in one build list.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec 3>&1 1>&2

# shellcheck source=versions.env
. "$here/versions.env"
: "${KUBERNETES_VERSION:?versions.env must set KUBERNETES_VERSION}"
: "${ETCD_VERSION:?versions.env must set ETCD_VERSION}"

cache_root="${PROPSY_CACHE:-$HOME/.cache/propsy}"
key="$(cat "$here/versions.env" "$here/build.sh" | sha256sum | cut -c1-16)"
env_dir="$cache_root/kube-env-$key"
bin_dir="$env_dir/bin"

have_binaries() { [ -x "$bin_dir/kube-apiserver" ] && [ -x "$bin_dir/etcd" ]; }

if have_binaries; then
  echo "$bin_dir" >&3
  exit 0
fi

mkdir -p "$env_dir"
# One builder at a time per key; a second caller waits, then finds the result.
exec 4>"$env_dir/.lock"
if ! flock -w 7200 4; then
  echo "build.sh: timed out waiting for another build of $env_dir" >&2
  exit 1
fi
if have_binaries; then
  echo "$bin_dir" >&3
  exit 0
fi

command -v go >/dev/null || { echo "build.sh: go is not installed" >&2; exit 1; }
export CGO_ENABLED=0 GOFLAGS="-buildvcs=false"
build=(nice -n 10 go build -trimpath)
start=$SECONDS

# --- kube-apiserver --------------------------------------------------------
k8s_minor="${KUBERNETES_VERSION#v1.}"        # 32.13
staging_version="v0.${k8s_minor}"            # v0.32.13
major=1
minor="${k8s_minor%%.*}"                     # 32
k8s_src="$env_dir/src/kube-apiserver"
rm -rf "$k8s_src" && mkdir -p "$k8s_src"

# k8s.io/kubernetes' go.mod replaces every staging module with ./staging/...;
# those paths do not exist in the module zip, so the scratch module replaces
# each one with the published v0.x release of the same Kubernetes version.
echo "build.sh: reading k8s.io/kubernetes@$KUBERNETES_VERSION go.mod" >&2
k8s_gomod="$(cd "$k8s_src" && go list -m -f '{{.GoMod}}' "k8s.io/kubernetes@$KUBERNETES_VERSION")"
go_line="$(grep -m1 -E '^go [0-9.]+$' "$k8s_gomod")"
# Keep Kubernetes' GODEBUG defaults (single lines or a block).
godebug_lines="$(awk '/^godebug \(/ {b = 1} b || /^godebug / {print} b && /^\)/ {b = 0}' "$k8s_gomod")"
mapfile -t staging < <(grep -oE '^\s*k8s\.io/[A-Za-z0-9._/-]+ => \./staging/' "$k8s_gomod" \
  | awk '{print $1}' | sort -u)
if [ "${#staging[@]}" -eq 0 ]; then
  echo "build.sh: found no staging replace lines in $k8s_gomod" >&2
  exit 1
fi
{
  echo "module propsy.test/kube-apiserver"
  echo
  echo "$go_line"
  if [ -n "$godebug_lines" ]; then printf '\n%s\n' "$godebug_lines"; fi
  echo
  echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
  echo
  echo "replace ("
  for m in "${staging[@]}"; do echo "	$m => $m $staging_version"; done
  echo ")"
} >"$k8s_src/go.mod"
cat >"$k8s_src/tools.go" <<'EOF'
//go:build tools

// Package tools pins the commands this module builds.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
EOF

echo "build.sh: go mod tidy (kube-apiserver, ${#staging[@]} staging modules at $staging_version)" >&2
(cd "$k8s_src" && nice -n 10 go mod tidy)
echo "build.sh: modules of kube-apiserver ready after $((SECONDS - start)) s" >&2

version_pkg="k8s.io/component-base/version"
ldflags="-s -w"
for pkg in "$version_pkg" k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=$major"
  ldflags+=" -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
echo "build.sh: go build kube-apiserver $KUBERNETES_VERSION (slow on a cold cache)" >&2
tmp_bin="$env_dir/bin.tmp"
rm -rf "$tmp_bin" && mkdir -p "$tmp_bin"
(cd "$k8s_src" && "${build[@]}" -ldflags="$ldflags" -o "$tmp_bin/kube-apiserver" \
  k8s.io/kubernetes/cmd/kube-apiserver)
echo "build.sh: kube-apiserver built after $((SECONDS - start)) s" >&2

# --- etcd -----------------------------------------------------------------
etcd_src="$env_dir/src/etcd"
rm -rf "$etcd_src" && mkdir -p "$etcd_src"
cat >"$etcd_src/go.mod" <<EOF
module propsy.test/etcd

go 1.22

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
EOF
cat >"$etcd_src/main.go" <<'EOF'
// Command etcd runs the etcd server (same flags as the upstream binary).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
echo "build.sh: go mod tidy (etcd $ETCD_VERSION)" >&2
(cd "$etcd_src" && nice -n 10 go mod tidy)
echo "build.sh: modules of etcd ready after $((SECONDS - start)) s" >&2
echo "build.sh: go build etcd $ETCD_VERSION" >&2
(cd "$etcd_src" && "${build[@]}" -ldflags="-s -w" -o "$tmp_bin/etcd" .)

rm -rf "$bin_dir"
mv "$tmp_bin" "$bin_dir"
sizes="$(du -h "$bin_dir/kube-apiserver" "$bin_dir/etcd" | awk '{printf " %s %s", $2, $1}')"
echo "build.sh: built in $((SECONDS - start)) s:$sizes" >&2
echo "$bin_dir" >&3
