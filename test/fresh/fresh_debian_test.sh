#!/usr/bin/env bash
# README's promise on a stock Debian 12: a minimal bookworm root made with
# mmdebstrap (variant minbase: Essential packages and apt, nothing else: no
# Go, no pip, no npm, no curl), the checkout copied in, and
# scripts/install-deps.sh run in it as root (chroot, the host's network).
# Then Envoy, grpcurl, kubectl and the Go toolchain must work there.
# CTest label `fresh`; not in the default CI run (it installs about 2 GB).
#
# usage: fresh_debian_test.sh REPOSITORY
set -euo pipefail
repo="$(cd "${1:?usage: fresh_debian_test.sh REPOSITORY}" && pwd)"
[ "$(id -u)" = 0 ] || { echo "FAIL: the chroot needs root" >&2; exit 1; }
command -v mmdebstrap >/dev/null || { echo "FAIL: mmdebstrap missing (scripts/install-deps.sh)" >&2; exit 1; }
work="$(mktemp -d "${TMPDIR:-/var/tmp}/propsy-fresh.XXXXXX")"
root="$work/root"
mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
start=$(date +%s)
mirror="${PROPSY_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security="${PROPSY_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
mmdebstrap --quiet --variant=minbase bookworm "$root" \
  "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
  "deb $security bookworm-security main"
echo "fresh: minimal bookworm root in $(( $(date +%s) - start ))s ($(du -sh "$root" | cut -f1))"
for tool in go pip3 npm curl python3 envoy kubectl; do
  if chroot "$root" sh -c "command -v $tool" >/dev/null 2>&1; then
    echo "FAIL: the minimal root already has $tool" >&2
    exit 1
  fi
done

for fs in proc sys dev dev/pts; do
  mkdir -p "$root/$fs"
  mount --bind "/$fs" "$root/$fs"
  mounted+=("$root/$fs")
done
cp /etc/resolv.conf "$root/etc/resolv.conf"
# A machine behind a TLS-inspecting proxy trusts its CA through local
# certificates; the root gets them too (ca-certificates, installed by
# install-deps.sh, adds them to the system bundle), and Python's and Node's
# own bundles are pointed at the system bundle, as on the host.
ca_env=()
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  bundle=/etc/ssl/certs/ca-certificates.crt
  ca_env=(PIP_CERT="$bundle" REQUESTS_CA_BUNDLE="$bundle" NODE_EXTRA_CA_CERTS="$bundle")
fi
mkdir -p "$root/src"
git -C "$repo" ls-files -z --cached --others --exclude-standard | (cd "$repo" && tar --null -T - -cf -) | tar -C "$root/src" -xf -

step_start=$(date +%s)
chroot "$root" env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "${ca_env[@]}" \
  bash -c 'cd /src && scripts/install-deps.sh' 2>&1 | sed 's/^/fresh: | /'
echo "fresh: install-deps.sh took $(( $(date +%s) - step_start ))s"

check() {  # check NAME COMMAND: runs COMMAND in the root with the cache's bin first on PATH
  local name="$1" out
  shift
  if out="$(chroot "$root" env -i HOME=/root PATH=/root/.cache/propsy/bin:/usr/sbin:/usr/bin:/sbin:/bin "${ca_env[@]}" \
    bash -c "$*" 2>&1)"; then
    echo "ok: $name: $(head -1 <<<"$out")"
  else
    echo "FAIL: $name: $out" >&2
    return 1
  fi
}
failed=0
check "envoy" 'envoy --version | grep -o "[0-9]*\.[0-9]*\.[0-9]*/Clean/RELEASE"' || failed=1
check "grpcurl" 'grpcurl -version' || failed=1
check "kubectl" 'kubectl version --client' || failed=1
check "Go toolchain" 'go version && cd /tmp && mkdir -p hello && cd hello && printf "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"hello from go\") }\n" > main.go && go mod init hello >/dev/null 2>&1 && go run .' || failed=1
check "pytest in the virtualenv, not the system Python" \
  'pytest --version && ! /usr/bin/python3 -c "import pytest" 2>/dev/null' || failed=1
check "system Python untouched" \
  '! /usr/bin/python3 -m pip --version 2>/dev/null || ! /usr/bin/python3 -m pip list 2>/dev/null | grep -qi envoy' || failed=1
echo "fresh: $(( $(date +%s) - start ))s in all"
[ "$failed" = 0 ] || exit 1
echo "fresh_debian_test: passed"
