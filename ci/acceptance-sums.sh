#!/usr/bin/env bash
# Acceptance checks for the sums stack: health and readiness, a sum and the last sum, bad
# input, through the public client (and the private API when reachable).
#
#   ci/acceptance-sums.sh [CLIENT_URL [API_URL]]
#   SUMS_CLIENT_URL=http://alb.example SUMS_API_URL= ci/acceptance-sums.sh
#
# CLIENT_URL defaults to http://localhost:7777 (compose); the API checks run only when an
# API URL is given (on AWS it is private). Never sends n=13 (the API's crash switch).
set -uo pipefail
# shellcheck source=ci/acceptance-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/acceptance-lib.sh"

CLIENT_URL="${1:-${SUMS_CLIENT_URL:-http://localhost:7777}}"
CLIENT_URL="${CLIENT_URL%/}"
API_URL="${2:-${SUMS_API_URL:-}}"
API_URL="${API_URL%/}"

echo "sums acceptance: client $CLIENT_URL${API_URL:+, api $API_URL}"
status_is() { [[ "$STATUS" == "$1" ]]; }
body_is() { [[ "$BODY" == "$1" ]]; }

wait_ready "$CLIENT_URL/ready"
check "client /ready answers 200, ready (API reachable)" fully_ready
request GET "$CLIENT_URL/health"
check "client /health answers 200" status_is 200
request GET "$CLIENT_URL/healthcheck"
check "client /healthcheck answers OK" body_is OK

# A fresh n each run, so the last sum checked is this run's.
n=$((100000 + RANDOM * 7 + RANDOM % 7))
[[ $n -eq 13 ]] && n=14
expected=$((n * (n + 1) / 2))
request GET "$CLIENT_URL/?n=$n"
check "GET /?n=$n answers 'Your sum was $expected'" body_is "Your sum was $expected"
request GET "$CLIENT_URL/"
check "GET / answers 'Last sum was $expected'" body_is "Last sum was $expected"
request GET "$CLIENT_URL/?n=abc"
check "GET /?n=abc is rejected with 422" status_is 422
check "GET /?n=abc shows the API's message" \
    body_is "Cannot compute the sum: n needs to be an integer"

if [[ -n "$API_URL" ]]; then
    wait_ready "$API_URL/ready"
    check "api /ready answers 200, ready (Redis reachable)" fully_ready
    request GET "$API_URL/healthcheck"
    check "api /healthcheck answers OK" body_is OK
    request GET "$API_URL/"
    check "api GET / answers {\"last_sum\":$expected}" body_is "{\"last_sum\":$expected}"
    request POST "$API_URL/sum" '{"n": 10}'
    check "api POST /sum {\"n\":10} answers {\"sum\":55}" body_is '{"sum":55}'
    request POST "$API_URL/sum" '{}'
    check "api POST /sum {} answers 422" status_is 422
    check "api POST /sum {} says n needs to be set" body_is '{"error":"n needs to be set"}'
    request POST "$API_URL/sum" '{"n": 0}'
    check "api POST /sum {\"n\":0} answers 422" status_is 422
    check "api POST /sum {\"n\":0} says n needs to be greater 0" \
        body_is '{"error":"n needs to be greater 0"}'
    request POST "$API_URL/sum" 'nope'
    check "api POST /sum with invalid JSON answers 400" status_is 400
fi

finish sums
