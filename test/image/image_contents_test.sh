#!/usr/bin/env bash
# The image's own root filesystem, run the way a runtime would run it (this
# machine may refuse containers a full runtime: podman's setrlimit): the
# archive's layers unpacked (unpack_image.py) and its entrypoint started with
# chroot as the image's user.
#   - the config: entrypoint, user 65532, org.opencontainers.image.* labels
#     with CMake's version;
#   - every shared library of propsy resolves inside the image (its own
#     dynamic loader lists them), nothing needs a file from outside;
#   - no shell and no package manager; CA certificates present;
#   - `propsy -version` prints the version; propsy serves with dir: sources
#     as uid 65532, answers /readyz, and exits 0 on SIGTERM;
#   - podman loads the archive as propsy:VERSION (isolated storage).
#
# usage: image_contents_test.sh ARCHIVE VERSION
set -euo pipefail
archive="${1:?usage: image_contents_test.sh ARCHIVE VERSION}"
version="${2:?usage: image_contents_test.sh ARCHIVE VERSION}"
here="$(cd "$(dirname "$0")" && pwd)"
[ "$(id -u)" = 0 ] || { echo "FAIL: chroot needs root" >&2; exit 1; }
[ -f "$archive" ] || { echo "FAIL: $archive missing (scripts/build-image.sh builds it)" >&2; exit 1; }
work="$(mktemp -d "${TMPDIR:-/tmp}/propsy-image-test.XXXXXX")"
propsy_pid=""
cleanup() {
  [ -z "$propsy_pid" ] || kill -KILL "$propsy_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

"$here/unpack_image.py" "$archive" "$work/image"
root="$work/image/rootfs"
config_value() {  # a value of the image config as JSON
  python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["config"]["config"]; print(json.dumps(eval("c" + sys.argv[2])))' \
    "$work/image/config.json" "$1"
}

# The config.
[ "$(config_value '["Entrypoint"]')" = '["/usr/local/bin/propsy"]' ] && pass "entrypoint" \
  || fail "entrypoint is $(config_value '["Entrypoint"]')"
[ "$(config_value '["User"]')" = '"65532:65532"' ] && pass "user 65532" \
  || fail "user is $(config_value '["User"]')"
for label in title version revision created description; do
  value="$(config_value "[\"Labels\"].get(\"org.opencontainers.image.$label\", \"\")")"
  [ "$value" != '""' ] || fail "label org.opencontainers.image.$label missing"
done
[ "$(config_value '["Labels"]["org.opencontainers.image.version"]')" = "\"$version\"" ] \
  && pass "version label $version" || fail "version label is not $version"
ref="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["index"]["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"])' "$work/image/config.json")"
[ "$ref" = "propsy:$version" ] && pass "tagged propsy:$version" || fail "tagged $ref"

# Shared libraries, resolved by the image's own loader inside the image.
libraries="$(chroot "$root" /lib64/ld-linux-x86-64.so.2 --list /usr/local/bin/propsy)" \
  || fail "the image's loader cannot list propsy's libraries"
if grep -q "not found" <<<"$libraries"; then
  fail "libraries missing in the image: $(grep 'not found' <<<"$libraries" | paste -sd' ')"
else
  pass "all $(grep -c '=>' <<<"$libraries") shared libraries resolve inside the image"
fi
while read -r path; do
  [ -e "$root$path" ] || fail "$path resolved but is not in the image"
done < <(awk '$2 == "=>" { print $3 }' <<<"$libraries")

# Only what the binary needs.
for absent in /bin/sh /usr/bin/sh /bin/bash /usr/bin/bash /usr/bin/apt /usr/bin/apt-get \
  /usr/bin/dpkg /var/lib/dpkg; do
  [ ! -e "$root$absent" ] || fail "$absent is in the image"
done
pass "no shell, no package manager"
[ -s "$root/etc/ssl/certs/ca-certificates.crt" ] \
  && pass "CA certificates ($(grep -c 'BEGIN CERTIFICATE' "$root/etc/ssl/certs/ca-certificates.crt"))" \
  || fail "no CA bundle"
grep -q '^nonroot:x:65532:65532:' "$root/etc/passwd" && pass "passwd has 65532" \
  || fail "no user 65532 in /etc/passwd"

# The binary runs as the image's user.
printed="$(chroot --userspec=65532:65532 "$root" /usr/local/bin/propsy -version)"
[ "$printed" = "propsy $version" ] && pass "propsy -version: $printed" \
  || fail "propsy -version printed '$printed'"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
admin_port="$(free_port)"
xds_port="$(free_port)"
chroot --userspec=65532:65532 "$root" /usr/local/bin/propsy -zone z \
  -configcluster dir:/home/nonroot:z -endpointcluster dir:/home/nonroot:z:0 \
  -listen "127.0.0.1:$xds_port" -listenhealth "127.0.0.1:$admin_port" >"$work/propsy.log" 2>&1 &
propsy_pid=$!
ready=""
for _ in $(seq 1 100); do
  if curl -fsS --max-time 1 "http://127.0.0.1:$admin_port/readyz" >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$propsy_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -n "$ready" ]; then
  pass "propsy from the image serves (/readyz 200)"
  uid="$(awk '/^Uid:/ { print $2 }' "/proc/$propsy_pid/status")"
  [ "$uid" = 65532 ] && pass "runs as uid $uid" || fail "runs as uid $uid"
else
  fail "propsy from the image never became ready: $(tail -5 "$work/propsy.log")"
fi
kill -TERM "$propsy_pid"
status=0
wait "$propsy_pid" || status=$?
propsy_pid=""
[ "$status" = 0 ] && pass "exit 0 on SIGTERM" || fail "exit $status on SIGTERM: $(tail -3 "$work/propsy.log")"

# A real loader takes the archive.
if command -v podman >/dev/null; then
  storage="$work/podman"
  podman_cmd=(podman --root "$storage/root" --runroot "$storage/run" --storage-driver vfs)
  if loaded="$("${podman_cmd[@]}" load -i "$archive" 2>&1)"; then
    name="$("${podman_cmd[@]}" image inspect "propsy:$version" --format '{{.Config.User}} {{index .Config.Entrypoint 0}}' 2>&1)" || true
    [ "$name" = "65532:65532 /usr/local/bin/propsy" ] \
      && pass "podman load: $(tail -1 <<<"$loaded")" || fail "podman inspect propsy:$version: $name"
  else
    fail "podman load: $loaded"
  fi
  "${podman_cmd[@]}" rmi -a -f >/dev/null 2>&1 || true
else
  fail "podman is missing (scripts/install-deps.sh installs it)"
fi

echo "image size: $(du -b "$archive" | cut -f1) bytes archived, $(du -sb "$root" | cut -f1) bytes unpacked"
[ "$failures" = 0 ] || { echo "$failures check(s) failed" >&2; exit 1; }
echo "image_contents_test: all checks passed"
