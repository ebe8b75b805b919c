#!/usr/bin/env bash
# Deploys TAG to a stack (blue/green for load-balanced services, rolling for the rest), or
# rolls the stack back. The exit code is provision's: success, rolled back, timed out.
#
#   ci/deploy.sh STACK ENV deploy TAG
#   ci/deploy.sh STACK ENV rollback [SERVICE]
#
# Needs the `provision` binary on PATH (or PROVISION=path) and AWS credentials.
set -euo pipefail
stack="${1:?usage: ci/deploy.sh STACK ENV deploy TAG | rollback [SERVICE]}"
env="${2:?usage: ci/deploy.sh STACK ENV deploy TAG | rollback [SERVICE]}"
action="${3:?usage: ci/deploy.sh STACK ENV deploy TAG | rollback [SERVICE]}"
provision="${PROVISION:-provision}"
case "$action" in
    deploy)
        tag="${4:?deploy needs a TAG}"
        exec "$provision" --stack "$stack" --env "$env" --yes deploy --tag "$tag"
        ;;
    rollback)
        if [[ -n "${4:-}" ]]; then
            exec "$provision" --stack "$stack" --env "$env" --yes rollback --service "$4"
        fi
        exec "$provision" --stack "$stack" --env "$env" --yes rollback
        ;;
    *)
        echo "unknown action $action: use deploy or rollback" >&2
        exit 2
        ;;
esac
