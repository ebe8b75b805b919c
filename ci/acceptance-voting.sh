#!/usr/bin/env bash
# Acceptance check of a running voting stack: probes, the vote page, a vote through the
# form and one through the JSON API, and both counted by the result service.
#
#   ci/acceptance-voting.sh [VOTE_URL] [RESULT_URL]
#
# URLs default to $VOTE_URL / $RESULT_URL, then http://localhost:8080 and :8081 (compose).
# Behind the AWS load balancer pass its URLs. Plain bash + curl; exits 1 on any failure.
set -uo pipefail
# shellcheck source=ci/acceptance-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/acceptance-lib.sh"

VOTE="${1:-${VOTE_URL:-http://localhost:8080}}"
RESULT="${2:-${RESULT_URL:-http://localhost:8081}}"
VOTE="${VOTE%/}"
RESULT="${RESULT%/}"
echo "voting acceptance against vote=$VOTE result=$RESULT"

wait_ready "$VOTE/ready"
check "vote /health answers 200" test "$(request GET "$VOTE/health"; echo "$STATUS")" = 200
request GET "$VOTE/ready"
check "vote /ready answers 200 with redis up" test "$STATUS" = 200
check "vote /ready names redis" grep -q '"redis"' <<<"$BODY"
wait_ready "$RESULT/ready"
request GET "$RESULT/ready"
check "result /ready answers 200 with postgres up" test "$STATUS" = 200

request GET "$VOTE/"
check "vote page answers 200" test "$STATUS" = 200
check "vote page has the title 'A vs B!'" grep -Eq '<title>.+ vs .+!</title>' <<<"$BODY"
check "vote page has buttons a and b" grep -q 'id="a"' <<<"$BODY"
check "vote page shows the container" grep -q 'Processed by container ID' <<<"$BODY"

request GET "$RESULT/api/results"
check "result /api/results answers 200" test "$STATUS" = 200
before_a="$(json a)"
before_b="$(json b)"
before_a="${before_a:-0}"
before_b="${before_b:-0}"

voter="acceptance-$(date +%s)-$RANDOM"
form_status="$(curl -sS -o /dev/null -w '%{http_code}' --max-time "$ACCEPTANCE_TIMEOUT_SECS" \
    -H "Cookie: voter_id=${voter}-form" --data 'vote=a' "$VOTE/" 2>/dev/null || echo 000)"
STATUS="$form_status"
BODY=""
check "a vote for a through the form is accepted" test "$form_status" = 200

api_status="$(curl -sS -o /dev/null -w '%{http_code}' --max-time "$ACCEPTANCE_TIMEOUT_SECS" \
    -H "X-Voter-Id: ${voter}-api" -H 'Content-Type: application/json' \
    --data '{"vote":"b"}' "$VOTE/api/vote" 2>/dev/null || echo 000)"
STATUS="$api_status"
check "a vote for b through the JSON API is accepted (202)" test "$api_status" = 202

request POST "$VOTE/api/vote" '{"vote":"c"}'
check "an unknown vote is refused with 422" test "$STATUS" = 422

counted=false
deadline=$((SECONDS + ACCEPTANCE_WAIT_SECS))
while ((SECONDS < deadline)); do
    request GET "$RESULT/api/results"
    if [[ "$STATUS" == 200 ]] && (($(json a) >= before_a + 1)) && (($(json b) >= before_b + 1)); then
        counted=true
        break
    fi
    sleep 0.5
done
check "both votes are counted by the result service" $counted

request GET "$RESULT/"
check "result page answers 200" test "$STATUS" = 200
check "result page has the title 'A vs B -- Result'" grep -Eq '<title>.+ vs .+ -- Result</title>' <<<"$BODY"
check "result page shows a vote total" grep -Eq '[0-9]+ votes?|No votes yet' <<<"$BODY"

finish voting
