#!/usr/bin/env bash
# Runs README's first command (examples/quickstart/run.sh) with the built
# binary and checks that every kind of traffic it shows went through Envoy.
set -euo pipefail
out="$(PROPSY_QUICKSTART_ONESHOT=1 PROPSY_BINARY="$1" "$2/examples/quickstart/run.sh" 2>&1)" || {
  echo "$out"
  exit 1
}
echo "$out"
expect() {
  grep -qE "$1" <<<"$out" || { echo "quickstart_test: missing in output: $1" >&2; exit 1; }
}
expect '^web-(a|b|canary-a): GET /hello$'      # HTTP through the weighted route
expect '^api-a: GET /users$'                   # second service, /api/ rewritten to /
expect '^web-(a|b|canary-a): GET /$'           # HTTPS listener (certificate over SDS)
expect '^db-a$'                                # TCP proxy greeting
expect '^ping$'                                # TCP proxy echo
expect '^ +[0-9]+ web-a$'                      # the share table has every backend
expect '^ +[0-9]+ web-b$'
expect '^ +[0-9]+ web-canary-a$'
