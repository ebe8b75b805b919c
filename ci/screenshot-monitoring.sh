#!/usr/bin/env bash
# Takes the README's monitoring picture (docs/monitoring-prometheus.png), reproducibly:
# the native voting stack (vote, worker, result on throwaway Redis and Postgres) and
# Debian's Prometheus with the compose profile's configuration, all on loopback; about
# 70 s of votes with a 20 s Postgres outage in the middle; then headless Chromium
# screenshots Prometheus's graph page (votes accepted/s, votes stored/s, queue depth,
# oldest queued vote age). Grafana needs Docker, which the CI machines do not have; its
# dashboards show the same queries.
#
#   bash ci/screenshot-monitoring.sh [OUTPUT.png]
#
# Needs what ci/test.sh installs: redis-server, postgresql, prometheus, chromium.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

OUTPUT="${1:-docs/monitoring-prometheus.png}"
for tool in prometheus chromium redis-server; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "$tool is missing: run ci/test.sh once (it installs the Debian packages), or apt-get install it" >&2
        exit 1
    }
done
mkdir -p "$(dirname "$OUTPUT")"
cargo build --locked --bin vote --bin worker --bin result
cargo run --locked -p voting-e2e --example monitoring-screenshot -- "$OUTPUT"
echo "screenshot: $OUTPUT"
