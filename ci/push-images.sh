#!/usr/bin/env bash
# Builds every service image of a stack and pushes it to the stack's ECR repositories,
# tagged TAG (CI uses the commit SHA; the repositories' tags are immutable): a thin
# wrapper over `provision push`, which reads each service's [services.<name>.build] from
# config/<stack>.toml, logs docker in with an ECR token and runs `docker buildx build
# --push`. Never the debug image: it runs as root with the master database URL, and the
# deploy role may not push it; an operator pushes it with their own credentials
# (ci/push-debug-image.sh).
#
#   ci/push-images.sh STACK ENV TAG
#
# Needs docker with buildx, AWS credentials, and the `provision` binary on PATH (or
# PROVISION=path). The exit code is provision's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

stack="${1:?usage: ci/push-images.sh STACK ENV TAG}"
env="${2:?usage: ci/push-images.sh STACK ENV TAG}"
tag="${3:?usage: ci/push-images.sh STACK ENV TAG}"
exec "${PROVISION:-provision}" --stack "$stack" --env "$env" push --tag "$tag"
