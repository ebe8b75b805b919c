#!/usr/bin/env bash
# Runs ci/acceptance-sums.sh or ci/acceptance-shop.sh against the native binaries, each
# started with its docker-compose.yml environment rewritten to loopback, over throwaway
# Redis/Postgres servers (the testkit crate). The shop is checked through one path-routed
# base URL (as behind the load balancer) and through its three direct URLs.
#
#   ci/acceptance-local.sh sums|shop|all
#
# The same tests run in `cargo test --workspace`; this is the one-command form.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

run_sums() {
    cargo build --quiet -p sums-api -p sums-client --bins
    cargo test --quiet -p sums-client --test acceptance -- --nocapture
}

run_shop() {
    cargo build --quiet -p shop-users -p shop-products -p shop-orders --bins
    cargo test --quiet -p shop-orders --test acceptance -- --nocapture
}

case "${1:-}" in
    sums) run_sums ;;
    shop) run_shop ;;
    all) run_sums && run_shop ;;
    *)
        echo "usage: $0 sums|shop|all" >&2
        exit 2
        ;;
esac
