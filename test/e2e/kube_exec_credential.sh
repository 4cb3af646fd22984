#!/bin/sh
# kube_exec_credential.sh TOKEN_FILE CALLS_FILE: a kubeconfig exec credential
# plugin for the end-to-end tests. Prints an ExecCredential
# (client.authentication.k8s.io/v1) with the bearer token read from
# TOKEN_FILE, and appends one line per call to CALLS_FILE so a test can see
# that the plugin ran.
set -eu
token="$(cat "$1")"
echo "call $(date +%s) exec-info:${KUBERNETES_EXEC_INFO:+present}" >>"$2"
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}\n' "$token"
