#!/usr/bin/env bash
# deploy.yml's first step: the GitHub environment `<stack>-<env>` must hold the deploy role
# of exactly that stack and environment. Fails early, saying what to set where, instead of
# an AccessDenied halfway through a deploy.
#
#   ci/check-deploy-role.sh STACK ENV ROLE_ARN REGION
set -euo pipefail
stack="${1:?usage: ci/check-deploy-role.sh STACK ENV ROLE_ARN REGION}"
env="${2:?usage: ci/check-deploy-role.sh STACK ENV ROLE_ARN REGION}"
role_arn="${3:-}"
region="${4:-}"
environment="$stack-$env"
expected_role="$stack-$env-role-github-deploy"
fix="run \`provision --stack $stack --env $env outputs\` (after \`provision up\` with a [github] section) and store github_deploy_role_arn as the secret AWS_DEPLOY_ROLE_ARN, and the region as AWS_REGION, of the GitHub environment \`$environment\` (Settings → Environments)"

if [[ -z "$role_arn" ]]; then
    echo "::error::the GitHub environment \`$environment\` has no secret AWS_DEPLOY_ROLE_ARN: $fix" >&2
    exit 1
fi
if [[ -z "$region" ]]; then
    echo "::error::the GitHub environment \`$environment\` has no secret AWS_REGION: $fix" >&2
    exit 1
fi
# arn:aws:iam::<account>:role/<path>/<name>: the name must be this stack's deploy role.
if [[ ! "$role_arn" =~ ^arn:aws[a-z-]*:iam::[0-9]{12}:role/(.+/)?([^/]+)$ ]]; then
    echo "::error::AWS_DEPLOY_ROLE_ARN of \`$environment\` is not an IAM role ARN: $fix" >&2
    exit 1
fi
name="${BASH_REMATCH[2]}"
if [[ "$name" != "$expected_role" ]]; then
    echo "::error::AWS_DEPLOY_ROLE_ARN of \`$environment\` is the role \`$name\`, but only \`$expected_role\` may deploy $stack in $env: $fix" >&2
    exit 1
fi
echo "deploying $stack ($env) as $expected_role"
