#!/usr/bin/env bash
# Builds every service image of a stack and pushes it to the stack's ECR repositories,
# tagged TAG (CI uses the commit SHA; the repositories' tags are immutable). Never the
# debug image: it runs as root with the master database URL, and the deploy role may not
# push it; an operator pushes it with their own credentials (ci/push-debug-image.sh).
#
#   ci/push-images.sh STACK ENV TAG
#
# Needs docker (with buildx), the aws CLI with credentials for the account, jq, and the
# `provision` binary on PATH (or PROVISION=path). Repository URIs come from
# `provision outputs --json`, so nothing here hard-codes an account or region.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

stack="${1:?usage: ci/push-images.sh STACK ENV TAG}"
env="${2:?usage: ci/push-images.sh STACK ENV TAG}"
tag="${3:?usage: ci/push-images.sh STACK ENV TAG}"
provision="${PROVISION:-provision}"

# The Dockerfile target that holds a stack's service (see Dockerfile): the voting
# services are named as their binaries; sums and shop binaries carry the stack prefix.
target_for() {
    case "$1" in
        voting) echo "$2" ;;
        sums) echo "sums-$2" ;;
        shop) echo "shop-$2" ;;
        *) echo "unknown stack $1" >&2; return 1 ;;
    esac
}

outputs="$("$provision" --stack "$stack" --env "$env" outputs --json)"
region="$(jq -r .region <<<"$outputs")"
registry="$(jq -r '[.services[].repository_uri][0] | split("/")[0]' <<<"$outputs")"
aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$registry"

jq -r '.services | to_entries[] | "\(.key) \(.value.repository_uri)"' <<<"$outputs" |
    while read -r service repository; do
        target="$(target_for "$stack" "$service")"
        echo "==> $stack/$service: building target $target as $repository:$tag"
        docker buildx build --target "$target" \
            --build-arg "VERSION=$tag" --build-arg "REVISION=$(git rev-parse HEAD)" \
            --tag "$repository:$tag" --push .
    done

