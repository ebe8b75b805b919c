#!/usr/bin/env bash
# Builds the debug image (services/debug) and pushes it to the stack's debug repository as
# `latest` (the tag `provision debug` runs) and TAG. Run by an operator with their own
# AWS credentials, never by the deploy workflow: the image runs as root next to the
# master DATABASE_URL, so the GitHub deploy role may not push to that repository.
#
#   ci/push-debug-image.sh STACK ENV [TAG]
#
# Needs docker (with buildx), the aws CLI, jq, and `provision` on PATH (or PROVISION=path).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

stack="${1:?usage: ci/push-debug-image.sh STACK ENV [TAG]}"
env="${2:?usage: ci/push-debug-image.sh STACK ENV [TAG]}"
tag="${3:-$(git rev-parse HEAD)}"
provision="${PROVISION:-provision}"

outputs="$("$provision" --stack "$stack" --env "$env" outputs --json)"
region="$(jq -r .region <<<"$outputs")"
repository="$(jq -r '.debug_repository_uri // empty' <<<"$outputs")"
if [[ -z "$repository" ]]; then
    echo "$stack ($env) has no debug repository (it has neither Redis nor Postgres)" >&2
    exit 1
fi
aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "${repository%%/*}"
echo "==> $stack/debug: building services/debug as $repository:$tag and :latest"
docker buildx build services/debug --tag "$repository:$tag" --tag "$repository:latest" --push
