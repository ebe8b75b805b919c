#!/usr/bin/env bash
# Voting stack benchmarks (issue targets in brackets). Release builds, loopback only,
# every load bounded in time or count; throwaway Redis and Postgres on free ports.
#
#   ci/bench-voting.sh            # all
#   BENCH_SECONDS=10 CONCURRENCY=50 FANOUT_CLIENTS=5000 ci/bench-voting.sh
#
# Measures: vote POST / throughput vs redis-benchmark rpush at the same concurrency
# [>= 50%], vote p99 at half that rate [< 10 ms], worker drain of 200,000 queued votes
# [>= 50,000/s], vote-accepted -> socket.io update p99 at 1,000 votes/s [< 250 ms],
# 5,000 socket.io clients each getting every update [< 1 s, <= 2 queries/s], idle RSS
# [<= 20 MB] and time from process start to /ready 200 [< 200 ms]; and what waiting for
# a replica (REDIS_REPLICAS=1, as in prod) costs vote's throughput and p99.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/slipway/target}"
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
CONCURRENCY="${CONCURRENCY:-50}"
FANOUT_CLIENTS="${FANOUT_CLIENTS:-5000}"
DRAIN_VOTES="${DRAIN_VOTES:-200000}"

for tool in wrk:wrk hey:hey redis-benchmark:redis-tools node:nodejs; do
    command -v "${tool%%:*}" >/dev/null 2>&1 && continue
    [[ "$(id -u)" == 0 ]] || { echo "missing ${tool%%:*} (apt-get install ${tool##*:})" >&2; exit 1; }
    apt-get update -qq && apt-get install -y -qq "${tool##*:}" >/dev/null
done
[[ -d ci/node/node_modules/socket.io-client ]] || npm ci --prefix ci/node --no-audit --no-fund --silent

echo "==> building release binaries"
cargo build --release --quiet -p vote -p worker -p result
BIN="$CARGO_TARGET_DIR/release"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    [[ -n "${PGDATA_DIR:-}" ]] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

REDIS_PORT="$(free_port)"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >/dev/null &
PIDS+=($!)

PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
PG_PORT="$(free_port)"
PGDATA_DIR="$WORK/pg"
mkdir -p "$PGDATA_DIR" && chown postgres "$WORK" "$PGDATA_DIR"
as_pg() { if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_pg "$PG_BIN/initdb" -D "$PGDATA_DIR" -U postgres -A trust --no-sync >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -l "$WORK/pg.log" -w \
    -o "-p $PG_PORT -k $WORK -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null

export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
export LOG_FORMAT=json RUST_LOG=warn
VOTE_PORT="$(free_port)"; WORKER_PORT="$(free_port)"; RESULT_PORT="$(free_port)"

now_ms() { date +%s%3N; }
# start NAME PORT: starts a binary; sets PID_<name> and READY_MS (exec to first /ready 200).
start() {
    local name="$1" port="$2" started
    started="$(now_ms)"
    PORT="$port" "$BIN/$name" >>"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    printf -v "PID_$name" '%s' "$!"
    until curl -fs -o /dev/null "http://127.0.0.1:$port/ready"; do sleep 0.002; done
    READY_MS=$(($(now_ms) - started))
}
rss_kb() { ps -o rss= -p "$1" | tr -d ' '; }

echo "==> start-up: process start to /ready 200 [< 200 ms]"
start worker "$WORKER_PORT"; ready_worker="$READY_MS"
start vote "$VOTE_PORT"; ready_vote="$READY_MS"
start result "$RESULT_PORT"; ready_result="$READY_MS"
echo "worker ${ready_worker} ms, vote ${ready_vote} ms, result ${ready_result} ms"
sleep 2
echo "==> idle RSS [<= 20 MB]"
echo "worker $(rss_kb "$PID_worker") kB, vote $(rss_kb "$PID_vote") kB, result $(rss_kb "$PID_result") kB"

echo "==> redis-benchmark rpush, $CONCURRENCY clients, not pipelined"
redis_rps="$(redis-benchmark -p "$REDIS_PORT" -t rpush -c "$CONCURRENCY" -n 300000 -q --csv | tail -n 1 | cut -d, -f2 | tr -d '"')"
echo "redis rpush: ${redis_rps} req/s"
redis-cli -p "$REDIS_PORT" DEL mylist >/dev/null

echo "==> vote POST / throughput, $CONCURRENCY connections, ${SECONDS_PER_RUN}s [>= 50% of redis rpush]"
kill -STOP "$PID_worker"
cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "vote=a"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "voter_id=bench"
LUA
wrk -t2 -c"$CONCURRENCY" -d"${SECONDS_PER_RUN}s" --latency -s "$WORK/post.lua" "http://127.0.0.1:$VOTE_PORT/" | tee "$WORK/wrk.txt"
vote_rps="$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")"
python3 -c "print(f'vote/redis = {float($vote_rps)/float($redis_rps)*100:.0f}%')"

half="$(python3 -c "print(max(1, int(float($vote_rps) / 2 / $CONCURRENCY)))")"
echo "==> vote p99 at half that rate ($((half * CONCURRENCY)) req/s) [< 10 ms]"
hey -z "${SECONDS_PER_RUN}s" -c "$CONCURRENCY" -q "$half" -m POST -T application/x-www-form-urlencoded \
    -H "Cookie: voter_id=bench" -d 'vote=b' "http://127.0.0.1:$VOTE_PORT/" | grep -E 'Requests/sec|99%|95%|50%|\[2|\[5'
redis-cli -p "$REDIS_PORT" DEL votes >/dev/null

# Durability costs a replica round trip: where Redis has replicas (prod) the provisioner
# sets REDIS_REPLICAS and vote answers only after `WAIT 1` (one replica has the vote).
echo "==> with a replica (REDIS_REPLICAS=1: RPUSH + WAIT 1): throughput, then p99 at the rate above"
REPLICA_PORT="$(free_port)"
redis-server --port "$REPLICA_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --replicaof 127.0.0.1 "$REDIS_PORT" --daemonize no >/dev/null &
PIDS+=($!); PID_replica=$!
until redis-cli -p "$REPLICA_PORT" INFO replication 2>/dev/null | grep -q 'master_link_status:up'; do sleep 0.05; done
VOTE_WAIT_PORT="$(free_port)"
PORT="$VOTE_WAIT_PORT" REDIS_REPLICAS=1 "$BIN/vote" >>"$WORK/vote-wait.log" 2>&1 &
PIDS+=($!); PID_vote_wait=$!
until curl -fs -o /dev/null "http://127.0.0.1:$VOTE_WAIT_PORT/ready"; do sleep 0.002; done
wrk -t2 -c"$CONCURRENCY" -d"${SECONDS_PER_RUN}s" --latency -s "$WORK/post.lua" "http://127.0.0.1:$VOTE_WAIT_PORT/" | tee "$WORK/wrk-wait.txt"
wait_rps="$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk-wait.txt")"
python3 -c "print(f'vote with WAIT: {float($wait_rps):.0f} req/s = {float($wait_rps)/float($vote_rps)*100:.0f}% of vote without')"
hey -z "${SECONDS_PER_RUN}s" -c "$CONCURRENCY" -q "$half" -m POST -T application/x-www-form-urlencoded \
    -H "Cookie: voter_id=bench" -d 'vote=b' "http://127.0.0.1:$VOTE_WAIT_PORT/" | grep -E 'Requests/sec|99%|95%|50%|\[2|\[5'
echo "queued on the primary: $(redis-cli -p "$REDIS_PORT" LLEN votes), on the replica: $(redis-cli -p "$REPLICA_PORT" LLEN votes)"
kill -9 "$PID_vote_wait" "$PID_replica" 2>/dev/null || true
redis-cli -p "$REDIS_PORT" DEL votes >/dev/null
kill -CONT "$PID_worker"

echo "==> worker drain of $DRAIN_VOTES queued votes [>= 50,000 votes/s]"
kill "$PID_worker"; wait "$PID_worker" 2>/dev/null || true
python3 - "$DRAIN_VOTES" >"$WORK/votes.resp" <<'PY'
import sys
n = int(sys.argv[1])
out = sys.stdout
for i in range(n):
    payload = '{"voter_id":"drain-%d","vote":"%s"}' % (i, "a" if i % 3 else "b")
    out.write("*3\r\n$5\r\nRPUSH\r\n$5\r\nvotes\r\n$%d\r\n%s\r\n" % (len(payload), payload))
PY
redis-cli -p "$REDIS_PORT" --pipe <"$WORK/votes.resp" | tail -n 1
drain_start="$(now_ms)"
start worker "$WORKER_PORT"
until [[ "$(redis-cli -p "$REDIS_PORT" LLEN votes)" == 0 && -z "$(redis-cli -p "$REDIS_PORT" --scan --pattern 'votes:processing:*')" ]]; do sleep 0.01; done
drain_ms=$(($(now_ms) - drain_start))
stored="$(psql -X -A -t -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "SELECT count(*) FROM votes WHERE id LIKE 'drain-%'")"
echo "drained $DRAIN_VOTES votes in ${drain_ms} ms (incl. start-up): $((DRAIN_VOTES * 1000 / drain_ms)) votes/s; rows stored: $stored"

echo "==> end to end: vote accepted -> socket.io update, 1,000 votes/s for ${SECONDS_PER_RUN}s [p99 < 250 ms]"
node ci/node/bench-e2e-latency.mjs "http://127.0.0.1:$VOTE_PORT" "http://127.0.0.1:$RESULT_PORT" 1000 "$SECONDS_PER_RUN"

echo "==> fan-out: $FANOUT_CLIENTS socket.io clients, every update within 1 s [<= 2 queries/s]"
ulimit -n 65536 2>/dev/null || true
queries() { curl -s "http://127.0.0.1:$RESULT_PORT/metrics" | awk '/^result_db_queries_total / {print $2}'; }
q_before="$(queries)"; t_before="$(now_ms)"
node ci/node/bench-fanout.mjs "http://127.0.0.1:$VOTE_PORT" "http://127.0.0.1:$RESULT_PORT" "$FANOUT_CLIENTS" 10
q_after="$(queries)"; t_after="$(now_ms)"
python3 -c "print(f'result ran {(float(${q_after:-0})-float(${q_before:-0}))/(($t_after-$t_before)/1000):.2f} queries/s during fan-out')"
echo "result RSS with clients gone: $(rss_kb "$PID_result") kB"
