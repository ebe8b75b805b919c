# shellcheck shell=bash
# Shared helpers for the acceptance scripts (sourced, not run). Plain bash + curl, so the
# same scripts run against local ports and against the AWS load balancer.
#
#   request METHOD URL [JSON_BODY]   sets STATUS, BODY and HEADERS
#   header NAME                      prints a response header of the last request
#   check "what" CONDITION...        runs CONDITION, prints ok/FAIL, counts failures
#   json FIELD                       prints a top-level field of $BODY (jq, or python3)
#   wait_ready URL                   polls until URL answers 200 and is not "degraded"
#                                    (at most ACCEPTANCE_WAIT_SECS)
#   finish NAME                      prints the tally; exits 1 when anything failed

ACCEPTANCE_WAIT_SECS="${ACCEPTANCE_WAIT_SECS:-60}"
ACCEPTANCE_TIMEOUT_SECS="${ACCEPTANCE_TIMEOUT_SECS:-30}"
PASSED=0
FAILED=0
STATUS=""
BODY=""
HEADERS=""

request() {
    local method="$1" url="$2" data="${3-}"
    local body_file headers_file
    body_file="$(mktemp)"
    headers_file="$(mktemp)"
    local args=(-sS -X "$method" -o "$body_file" -D "$headers_file" -w '%{http_code}'
        --max-time "$ACCEPTANCE_TIMEOUT_SECS")
    if [[ $# -ge 3 ]]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$data")
    fi
    STATUS="$(curl "${args[@]}" "$url" 2>/dev/null)" || STATUS="${STATUS:-000}"
    BODY="$(cat "$body_file")"
    HEADERS="$(tr -d '\r' <"$headers_file")"
    rm -f "$body_file" "$headers_file"
}

header() {
    printf '%s\n' "$HEADERS" | grep -i "^$1:" | tail -n 1 | sed 's/^[^:]*: *//'
}

json() {
    if command -v jq >/dev/null 2>&1; then
        printf '%s' "$BODY" | jq -r --arg field "$1" '.[$field] // empty' 2>/dev/null
    else
        printf '%s' "$BODY" | python3 -c 'import json,sys
try:
    value = json.load(sys.stdin).get(sys.argv[1])
except Exception:
    value = None
print("" if value is None else value)' "$1"
    fi
}

check() {
    local what="$1"
    shift
    if "$@"; then
        PASSED=$((PASSED + 1))
        printf 'ok   - %s\n' "$what"
    else
        FAILED=$((FAILED + 1))
        printf 'FAIL - %s (status %s, body: %.300s)\n' "$what" "$STATUS" "$BODY"
    fi
}

wait_ready() {
    local url="$1" deadline=$((SECONDS + ACCEPTANCE_WAIT_SECS))
    while :; do
        request GET "$url"
        # 200 with "degraded" means an optional dependency is still down: keep waiting.
        if [[ "$STATUS" == 200 && "$(json status)" != degraded ]] || ((SECONDS >= deadline)); then
            return 0
        fi
        sleep 1
    done
}

# The last /ready answer: 200 and every dependency up.
fully_ready() { [[ "$STATUS" == 200 && "$(json status)" == ready ]]; }

finish() {
    printf '%s acceptance: %d checks passed, %d failed\n' "$1" "$PASSED" "$FAILED"
    ((FAILED == 0))
}
