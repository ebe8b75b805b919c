#!/usr/bin/env bash
# Static checks of the monitoring profile (there is no Docker engine or Grafana server on
# the CI machines; the real scrape is services/voting/e2e/tests/monitoring.rs):
#
#   1. promtool check config: monitoring/prometheus/prometheus.yml, rule files included;
#   2. promtool check rules and promtool test rules: every alert rule parses, and fires
#      (or stays quiet) on the synthetic series of monitoring/prometheus/tests/ — each
#      alert both ways (ci/check_monitoring.py alerts), each with its section in runbook.md;
#   3. the Grafana provisioning files and dashboards as Grafana reads them
#      (ci/check_monitoring.py dashboards: data source uids, unique panel ids, gridPos, template
#      variables), and every panel query parsed by promtool;
#   4. the compose file, monitoring profile included, against the Compose Specification
#      schema — ci/check-containers.sh does that (dclint) for the whole file.
#
# promtool comes from Debian's `prometheus` package (ci/test.sh installs it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*"; }

command -v promtool >/dev/null 2>&1 || {
    echo "promtool is missing: install Debian's prometheus package (apt-get install prometheus)" >&2
    exit 1
}

step "promtool $(promtool --version 2>&1 | head -1 | awk '{print $3}'): Prometheus configuration"
promtool check config monitoring/prometheus/prometheus.yml

step "promtool: alert rules"
promtool check rules monitoring/prometheus/rules/*.yml
promtool test rules monitoring/prometheus/tests/*.yml
PYTHON="$(bash ci/python-env.sh lint)/python3" # PyYAML, pinned in ci/python/lint-requirements.txt
"$PYTHON" ci/check_monitoring.py alerts monitoring runbook.md

step "Grafana provisioning and dashboards"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$PYTHON" ci/check_monitoring.py dashboards monitoring "$WORK/dashboard-queries.yml"
promtool check rules "$WORK/dashboard-queries.yml"

# The checks must reject what is wrong, or a pass means nothing: a dashboard pointing at
# another data source, and a panel query Prometheus cannot parse.
cp -r monitoring "$WORK/broken"
sed -i 's/"uid": "slipway-prometheus"/"uid": "elsewhere"/' "$WORK/broken/grafana/dashboards/voting.json"
if "$PYTHON" ci/check_monitoring.py dashboards "$WORK/broken" "$WORK/broken.yml" 2>/dev/null; then
    echo "the dashboard check accepted a dashboard with an unknown data source" >&2
    exit 1
fi
echo "ok  a dashboard naming an unprovisioned data source is rejected"
cp monitoring/grafana/dashboards/voting.json "$WORK/broken/grafana/dashboards/voting.json"
sed -i '0,/"expr": "sum(/s//"expr": "sum((/' "$WORK/broken/grafana/dashboards/voting.json"
"$PYTHON" ci/check_monitoring.py dashboards "$WORK/broken" "$WORK/broken.yml" >/dev/null
if promtool check rules "$WORK/broken.yml" >/dev/null 2>&1; then
    echo "promtool accepted a panel query that does not parse" >&2
    exit 1
fi
echo "ok  a panel query that does not parse is rejected"

step "monitoring: all checks passed"
