#!/usr/bin/env bash
# Makes the root filesystem of ProPsy's image, without the binary itself: a
# minimal Debian bookworm holding only the runtime libraries BINARY needs
# (scripts/runtime-packages.sh: its ldd libraries -> dpkg -S -> packages,
# extracted by mmdebstrap with their dependencies), the CA certificates of
# Debian's ca-certificates package as /etc/ssl/certs/ca-certificates.crt,
# and user and group 65532 (nonroot). No shell, no package manager, no dpkg
# database: nothing runs in it but the binary. Everything comes from Debian
# packages; no container registry.
#
# DEST is a directory (must not exist) or, ending in .tar, a reproducible
# tarball (SOURCE_DATE_EPOCH). "package version" of every package in the
# root goes to DEST.packages. Used by scripts/build-image.sh and by the
# Dockerfile's build stage.
#
# Environment: PROPSY_DEBIAN_MIRROR (default http://deb.debian.org/debian),
# PROPSY_DEBIAN_SECURITY_MIRROR (default http://deb.debian.org/debian-security),
# PROPSY_MMDEBSTRAP_MODE (default auto: root as root, else unshare).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

# mmdebstrap calls back with the root as $2.
case "${1:-}" in
  --extract-hook)
    # The extract variant runs no later hook, so everything happens here.
    # The downloaded packages are still in the root's apt cache: record
    # their names and versions, and extract ca-certificates alone (its
    # dependencies, openssl and debconf, only serve its maintainer scripts,
    # which never run here).
    archives="$2/var/cache/apt/archives"
    (cd "$archives" && APT_CONFIG="$MMDEBSTRAP_APT_CONFIG" \
      apt-get download -q=2 -o APT::Sandbox::User="$(id -un)" ca-certificates)
    dpkg-deb -x "$archives"/ca-certificates_*.deb "$2"
    for deb in "$archives"/*.deb; do
      echo "$(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)"
    done | LC_ALL=C sort > "$PROPSY_IMAGE_PACKAGES_OUT"
    root="$2"
    # The CA bundle: what update-ca-certificates makes from the default
    # configuration (every certificate the package ships).
    find "$root/usr/share/ca-certificates" -name '*.crt' | LC_ALL=C sort | xargs cat \
      > "$root/etc/ssl/certs/ca-certificates.crt"
    [ -s "$root/etc/ssl/certs/ca-certificates.crt" ] || { echo "image-rootfs: no CA certificates" >&2; exit 1; }
    # Users: root and nonroot (65532), the user the image runs as.
    printf '%s\n' 'root:x:0:0:root:/root:/usr/sbin/nologin' \
      'nonroot:x:65532:65532:nonroot:/home/nonroot:/usr/sbin/nologin' > "$root/etc/passwd"
    printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' > "$root/etc/group"
    install -d -m 0700 "$root/root"
    install -d -m 0700 "$root/home/nonroot"
    chown 65532:65532 "$root/home/nonroot"
    install -d -m 1777 "$root/tmp"
    # What only installing, configuring or reading about packages needs.
    # The copyright files stay (/usr/share/doc/*/copyright).
    rm -rf "$root/var/cache/apt" "$root/var/lib/apt" "$root/var/lib/dpkg" "$root/var/log" \
      "$root/etc/apt" "$root/etc/dpkg" "$root/usr/share/man" "$root/usr/share/info" \
      "$root/usr/share/lintian" "$root/usr/share/locale" "$root/usr/share/bug" \
      "$root/usr/sbin/update-ca-certificates" "$root/etc/ca-certificates" \
      "$root/etc/fstab" "$root/etc/hostname" "$root/etc/resolv.conf"
    find "$root/usr/share/doc" -type f ! -name copyright -delete
    find "$root/usr/share/doc" "$root/usr/sbin" -depth -type d -empty -delete
    # mmdebstrap's own cleanup is skipped (it expects what was removed
    # above); its apt configuration is the last thing it left.
    find "$root/tmp" -mindepth 1 -delete
    exit 0
    ;;
esac

binary="${1:?usage: image-rootfs.sh BINARY DEST}"
dest="${2:?usage: image-rootfs.sh BINARY DEST}"
[ ! -e "$dest" ] || { echo "image-rootfs: $dest already exists" >&2; exit 1; }
mirror="${PROPSY_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security="${PROPSY_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"

packages="$("$here/runtime-packages.sh" "$binary")"
echo "image-rootfs: runtime packages of $(basename "$binary"): $(paste -sd' ' <<<"$packages")" >&2

export PROPSY_IMAGE_PACKAGES_OUT
PROPSY_IMAGE_PACKAGES_OUT="$(realpath -m "$dest").packages"
self="$here/image-rootfs.sh"
mmdebstrap --quiet --mode="${PROPSY_MMDEBSTRAP_MODE:-auto}" --variant=extract \
  --skip=output/dev,output/mknod,cleanup \
  --include="$(paste -sd, <<<"$packages")" \
  --extract-hook="\"$self\" --extract-hook \"\$1\"" \
  bookworm "$dest" \
  "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
  "deb $security bookworm-security main"
echo "image-rootfs: $(wc -l < "$PROPSY_IMAGE_PACKAGES_OUT") packages in $dest" >&2
