#!/usr/bin/env bash
# Benchmarks for the sums and shop services (issue 3's Performance section), on loopback
# only, each load bounded in time. Builds the release binaries, starts throwaway Redis and
# PostgreSQL servers in a temporary directory, and stops everything it started on exit.
#
#   ci/bench-sums-shop.sh [sums|shop|all]      (default all)
#
# Two load generators: wrk (as many requests as the services take: throughput) and oha
# at a fixed request rate with coordinated-omission correction (latency at that rate).
#
# Environment: BENCH_SECS (default 10) per load run, BENCH_CONNECTIONS (default 32),
# BENCH_PRODUCTS_RATE (default 10000 req/s) over BENCH_RATE_CONNECTIONS (default 16),
# BENCH_HEALTH_RATE (default 200 req/s),
# BENCH_PG_FSYNC=off to trade Postgres durability for speed (default: on, as deployed).
# Needs wrk, redis-server, PostgreSQL server binaries (apt-get install wrk redis-server
# postgresql), curl, python3, and oha (installed with `cargo install --locked oha` when
# missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

WHAT="${1:-all}"
SECS="${BENCH_SECS:-10}"
CONNECTIONS="${BENCH_CONNECTIONS:-32}"
PG_FSYNC="${BENCH_PG_FSYNC:-on}"
PRODUCTS_RATE="${BENCH_PRODUCTS_RATE:-10000}"
HEALTH_RATE="${BENCH_HEALTH_RATE:-200}"
RATE_CONNECTIONS="${BENCH_RATE_CONNECTIONS:-16}"
WORK="$(mktemp -d -t slipway-bench.XXXXXX)"
PIDS=()

cleanup() {
    # The postmaster runs under runuser when we are root: stop it by its own pid.
    if [[ -f "$WORK/pg/postmaster.pid" ]]; then
        kill -INT "$(head -n 1 "$WORK/pg/postmaster.pid")" 2>/dev/null || true
    fi
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

for tool in wrk redis-server curl python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk redis-server curl)" >&2; exit 1; }
done

step() { printf '\n==> %s\n' "$*"; }
if ! command -v oha >/dev/null; then
    step "installing oha (crates.io)"
    cargo install --locked --quiet oha
    PATH="$HOME/.cargo/bin:$PATH"
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() {
    local url="$1"
    for _ in $(seq 1 200); do
        if [[ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" == 200 ]]; then return 0; fi
        sleep 0.05
    done
    echo "$url never answered 200" >&2
    return 1
}

step "building release binaries"
cargo build --release --quiet -p sums-api -p sums-client -p shop-users -p shop-products -p shop-orders
BIN="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release"

# Sets REDIS_PORT. Not called in $(…): the server's pid must reach PIDS in this shell.
start_redis() {
    local port
    port="$(free_port)"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
        --daemonize no >"$WORK/redis-$port.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
    REDIS_PORT="$port"
}

# Sets PG_PORT; like start_redis, not called in $(…).
start_postgres() {
    local port bin data run_as=()
    port="$(free_port)"
    bin="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin | sort -V | tail -n 1)"
    data="$WORK/pg"
    mkdir -p "$data"
    if [[ "$(id -u)" == 0 ]]; then
        chown postgres: "$WORK" "$data"
        run_as=(runuser -u postgres --)
    fi
    "${run_as[@]}" "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 >/dev/null
    "${run_as[@]}" "$bin/postgres" -D "$data" -p "$port" -k "$WORK" -c listen_addresses=127.0.0.1 \
        -c fsync="$PG_FSYNC" -c max_connections=300 >"$WORK/pg.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 200); do
        psql -h 127.0.0.1 -p "$port" -U postgres -Atc 'SELECT 1' postgres >/dev/null 2>&1 && break
        sleep 0.05
    done
    PG_PORT="$port"
}

# Runs oha at a fixed rate; prints "<requests/s> <p99 ms> <non-2xx count>".
oha_at_rate() {
    local rate="$1" connections="$2" url="$3" report="$WORK/oha-$RANDOM.json"
    oha -z "${SECS}s" -q "$rate" -c "$connections" --latency-correction --no-tui \
        --output-format json "$url" >"$report"
    python3 - "$report" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
codes = report.get("statusCodeDistribution", {})
non_2xx = sum(count for code, count in codes.items() if not code.startswith("2"))
# Requests still in flight when the run's time is up are cut off by oha itself.
errors = sum(count for error, count in report.get("errorDistribution", {}).items()
             if "deadline" not in error)
metrics = report["metrics"]
print(f'{metrics["requests_per_sec"]:.0f} {metrics["latency_ms"]["p99"]:.2f} {non_2xx + errors}')
PY
}

# Prints "<requests/s> <p99>" from a wrk --latency report.
wrk_summary() {
    awk '/Requests\/sec/ {rps=$2} /^ +99%/ {p99=$2} END {print rps, p99}' "$1"
}

bench_sums() {
    local redis_port api_port
    start_redis
    redis_port="$REDIS_PORT"
    api_port="$(free_port)"
    step "sums: n=999999999 on one core (API pinned to CPU 0, one sum worker)"
    PORT="$api_port" REDIS_URL="redis://127.0.0.1:$redis_port/0" SUM_WORKERS=1 LOG_FORMAT=json \
        taskset -c 0 "$BIN/sums-api" >"$WORK/sums-api-1core.log" 2>&1 &
    local pinned=$!
    PIDS+=("$pinned")
    wait_http "http://127.0.0.1:$api_port/ready"
    for run in 1 2 3; do
        curl -s -o "$WORK/sum.json" -w "run $run: %{time_total} s, " -X POST \
            -H 'Content-Type: application/json' -d '{"n": 999999999}' "http://127.0.0.1:$api_port/sum"
        cat "$WORK/sum.json"; echo
    done
    kill "$pinned"; wait "$pinned" 2>/dev/null || true

    step "sums: /health latency while 2 sums of n=999999999 run (both cores busy)"
    api_port="$(free_port)"
    PORT="$api_port" REDIS_URL="redis://127.0.0.1:$redis_port/0" LOG_FORMAT=json \
        "$BIN/sums-api" >"$WORK/sums-api.log" 2>&1 &
    PIDS+=($!)
    wait_http "http://127.0.0.1:$api_port/ready"
    local deadline=$((SECONDS + SECS + 3)) loaders=()
    for _ in 1 2; do
        (while ((SECONDS < deadline)); do
            curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
                -d '{"n": 999999999}' "http://127.0.0.1:$api_port/sum"
        done) &
        loaders+=($!)
    done
    sleep 1
    read -r HEALTH_RATE_RPS HEALTH_RATE_P99 HEALTH_RATE_BAD < <(oha_at_rate "$HEALTH_RATE" 4 "http://127.0.0.1:$api_port/health")
    echo "oha at $HEALTH_RATE req/s: $HEALTH_RATE_RPS req/s, p99 ${HEALTH_RATE_P99} ms, failed $HEALTH_RATE_BAD"
    wait "${loaders[@]}" 2>/dev/null || true
    deadline=$((SECONDS + SECS + 3)) loaders=()
    for _ in 1 2; do
        (while ((SECONDS < deadline)); do
            curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
                -d '{"n": 999999999}' "http://127.0.0.1:$api_port/sum"
        done) &
        loaders+=($!)
    done
    sleep 1
    wrk -t1 -c4 -d"${SECS}s" --latency "http://127.0.0.1:$api_port/health" >"$WORK/health.txt"
    cat "$WORK/health.txt"
    wait "${loaders[@]}" 2>/dev/null || true
    read -r HEALTH_RPS HEALTH_P99 < <(wrk_summary "$WORK/health.txt")
    SUMS_COMPUTED="$(curl -s "http://127.0.0.1:$api_port/metrics" | awk '/^sums_computed_total/ {print $2}')"
    echo "sums computed during the run: ${SUMS_COMPUTED:-0}"
}

bench_shop() {
    local redis_port pg_port users_port products_port orders_port db
    start_redis
    redis_port="$REDIS_PORT"
    start_postgres
    pg_port="$PG_PORT"
    db="postgres://postgres@127.0.0.1:$pg_port/shop"
    psql -h 127.0.0.1 -p "$pg_port" -U postgres -qc 'CREATE DATABASE shop' postgres
    users_port="$(free_port)"; products_port="$(free_port)"; orders_port="$(free_port)"
    export DATABASE_URL="$db" REDIS_URL="redis://127.0.0.1:$redis_port/1" LOG_FORMAT=json
    step "shop: migrate and seed (Postgres fsync=$PG_FSYNC)"
    for service in users products orders; do "$BIN/shop-$service" migrate >/dev/null; done
    for service in users products orders; do "$BIN/shop-$service" seed >/dev/null; done
    PORT="$users_port" "$BIN/shop-users" >"$WORK/users.log" 2>&1 & PIDS+=($!)
    PORT="$products_port" "$BIN/shop-products" >"$WORK/products.log" 2>&1 & PIDS+=($!)
    PORT="$orders_port" USERS_URL="http://127.0.0.1:$users_port" \
        PRODUCTS_URL="http://127.0.0.1:$products_port" "$BIN/shop-orders" >"$WORK/orders.log" 2>&1 &
    PIDS+=($!)
    for port in "$users_port" "$products_port" "$orders_port"; do wait_http "http://127.0.0.1:$port/ready"; done

    step "shop: GET /products/1 from the cache ($CONNECTIONS connections, ${SECS}s)"
    curl -s -o /dev/null "http://127.0.0.1:$products_port/products/1"
    curl -s -D - -o /dev/null "http://127.0.0.1:$products_port/products/1" | grep -i '^x-cache'
    wrk -t2 -c"$CONNECTIONS" -d"${SECS}s" --latency "http://127.0.0.1:$products_port/products/1" \
        >"$WORK/products.txt"
    cat "$WORK/products.txt"
    read -r PRODUCTS_RPS PRODUCTS_P99 < <(wrk_summary "$WORK/products.txt")
    read -r PRODUCTS_RATE_RPS PRODUCTS_RATE_P99 PRODUCTS_RATE_BAD < <(oha_at_rate "$PRODUCTS_RATE" "$RATE_CONNECTIONS" "http://127.0.0.1:$products_port/products/1")
    echo "oha at $PRODUCTS_RATE req/s: $PRODUCTS_RATE_RPS req/s, p99 ${PRODUCTS_RATE_P99} ms, failed $PRODUCTS_RATE_BAD"
    PRODUCTS_HITS="$(curl -s "http://127.0.0.1:$products_port/metrics" | awk '/^products_cache_total\{result="hit"\}/ {print $2}')"

    step "shop: POST /orders for product 1 ($CONNECTIONS connections, ${SECS}s)"
    local stock_before stock_after orders_before orders_after
    query() { psql -h 127.0.0.1 -p "$pg_port" -U postgres -Atc "$1" shop; }
    stock_before="$(query 'SELECT stock FROM products.products WHERE id = 1')"
    orders_before="$(query 'SELECT count(*) FROM orders.orders')"
    cat >"$WORK/order.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"user_id": 1, "product_id": 1, "quantity": 1}'
wrk.headers["Content-Type"] = "application/json"
LUA
    wrk -t2 -c"$CONNECTIONS" -d"${SECS}s" --latency -s "$WORK/order.lua" \
        "http://127.0.0.1:$orders_port/orders" >"$WORK/orders.txt"
    cat "$WORK/orders.txt"
    stock_after="$(query 'SELECT stock FROM products.products WHERE id = 1')"
    orders_after="$(query 'SELECT count(*) FROM orders.orders')"
    read -r ORDERS_RPS ORDERS_P99 < <(wrk_summary "$WORK/orders.txt")
    ORDERS_REQUESTS="$(awk '/requests in/ {print $1}' "$WORK/orders.txt")"
    ORDERS_NON_2XX="$(awk '/Non-2xx/ {print $5}' "$WORK/orders.txt")"
    ORDERS_CREATED=$((orders_after - orders_before))
    STOCK_TAKEN=$((stock_before - stock_after))
    echo "orders created: $ORDERS_CREATED, stock taken: $STOCK_TAKEN ($stock_before -> $stock_after)," \
        "wrk requests: $ORDERS_REQUESTS, non-2xx: ${ORDERS_NON_2XX:-0}"
    if ((ORDERS_CREATED != STOCK_TAKEN)); then
        echo "STOCK ACCOUNTING MISMATCH" >&2
        return 1
    fi
}

case "$WHAT" in
    sums) bench_sums ;;
    shop) bench_shop ;;
    all) bench_sums; bench_shop ;;
    *) echo "usage: $0 [sums|shop|all]" >&2; exit 2 ;;
esac

step "summary ($(nproc) cores, loopback)"
if [[ "$WHAT" != shop ]]; then
    echo "sums /health while 2 big sums run: at $HEALTH_RATE req/s p99 ${HEALTH_RATE_P99} ms (target < 10 ms, failed $HEALTH_RATE_BAD); flat out (wrk) ${HEALTH_RPS} req/s, p99 ${HEALTH_P99}; sums completed: ${SUMS_COMPUTED:-0}"
fi
if [[ "$WHAT" != sums ]]; then
    echo "products GET from cache: at $PRODUCTS_RATE req/s p99 ${PRODUCTS_RATE_P99} ms (target p99 < 5 ms, failed $PRODUCTS_RATE_BAD); flat out (wrk) ${PRODUCTS_RPS} req/s, p99 ${PRODUCTS_P99} (target >= 10000 req/s); cache hits: ${PRODUCTS_HITS:-0}"
    echo "orders POST: $((ORDERS_CREATED / SECS)) orders/s created (wrk ${ORDERS_RPS} req/s, p99 ${ORDERS_P99}; target >= 1000/s); stock taken = orders created = ${ORDERS_CREATED}"
fi
