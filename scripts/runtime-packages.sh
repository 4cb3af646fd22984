#!/usr/bin/env bash
# Prints the Debian packages that hold the shared libraries BINARY needs at
# run time, one a line, sorted: its `ldd` libraries, each looked up with
# `dpkg -S`. This is the image's runtime package list (scripts/build-image.sh
# and the Dockerfile both use it), derived from the binary so it never rots.
# Fails, naming the library, when one is missing or belongs to no package.
set -euo pipefail
binary="${1:?usage: runtime-packages.sh BINARY}"
[ -x "$binary" ] || { echo "runtime-packages: $binary is not an executable" >&2; exit 1; }

# `ldd` lines: "libx.so.1 => /path/libx.so.1 (0x...)", "/lib64/ld-linux... (0x...)",
# "linux-vdso.so.1 (0x...)" (in the kernel, no file), "libx.so => not found".
ldd_out="$(ldd "$binary")"
if grep -q 'not found' <<<"$ldd_out"; then
  echo "runtime-packages: $binary needs libraries that are not installed:" >&2
  grep 'not found' <<<"$ldd_out" >&2
  exit 1
fi
mapfile -t libraries < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$ldd_out" | sort -u)

# dpkg records a file under the path its package ships; with merged /usr a
# library found as /lib/x/libfoo.so may be recorded as /usr/lib/x/libfoo.so
# or the other way round, and symlinks point to the real file. One
# dpkg-query call for every candidate path (each call reads the whole
# database).
declare -A candidates_of
all_candidates=()
for library in "${libraries[@]}"; do
  real="$(readlink -f "$library")"
  list=""
  for candidate in "$library" "$real" "/usr$library" "/usr$real" "${library#/usr}" "${real#/usr}"; do
    case " $list " in *" $candidate "*) continue ;; esac
    list="$list $candidate"
    all_candidates+=("$candidate")
  done
  candidates_of[$library]="$list"
done
declare -A owner_of
# "pkg:arch: /path"; "diversion by ..." lines are not ownership.
while IFS= read -r line; do
  case "$line" in diversion*) continue ;; esac
  owner_of["${line#*: }"]="${line%%:*}"
done < <(dpkg-query -S "${all_candidates[@]}" 2>/dev/null || true)

for library in "${libraries[@]}"; do
  package=""
  for candidate in ${candidates_of[$library]}; do
    if [ -n "${owner_of[$candidate]:-}" ]; then package="${owner_of[$candidate]}"; break; fi
  done
  if [ -z "$package" ]; then
    echo "runtime-packages: $library (needed by $binary) belongs to no Debian package" >&2
    exit 1
  fi
  echo "$package"
done | sort -u
