#!/usr/bin/env bash
# The live smoke test's check: the stack's load balancer answers its health path through
# the public service within a bounded time (ALB registration and health checks take a
# few minutes after a deploy).
#
#   ci/smoke-check.sh STACK ENV [TRIES]      (needs `provision` on PATH or PROVISION=path)
set -euo pipefail
stack="${1:?usage: ci/smoke-check.sh STACK ENV [TRIES]}"
env="${2:?usage: ci/smoke-check.sh STACK ENV [TRIES]}"
tries="${3:-60}"
provision="${PROVISION:-provision}"

# The health path the stack's ALB default service answers without dependencies.
case "$stack" in
    sums) path=/healthcheck ;;
    voting) path=/health ;;
    shop) path=/users/health ;;
    *) echo "unknown stack $stack" >&2; exit 2 ;;
esac
dns="$("$provision" --stack "$stack" --env "$env" --output json outputs | python3 -c 'import json,sys; print(json.load(sys.stdin)["load_balancer_dns"] or "")')"
if [[ -z "$dns" ]]; then
    echo "$stack ($env) has no load balancer: did provision up finish?" >&2
    exit 1
fi
url="${SMOKE_URL_SCHEME:-http}://$dns$path"
for attempt in $(seq "$tries"); do
    if curl --silent --show-error --fail --max-time 5 "$url" >/dev/null; then
        echo "ok: $url answered (attempt $attempt)"
        exit 0
    fi
    if ((attempt < tries)); then
        sleep 10
    fi
done
echo "$url did not answer 2xx after $tries attempts" >&2
exit 1
