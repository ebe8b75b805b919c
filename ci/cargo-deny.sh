#!/usr/bin/env bash
# cargo-deny, pinned, on the workspace's dependency tree (policy in deny.toml):
#
#   ci/cargo-deny.sh licenses bans sources   (ci/test.sh: needs only crates.io)
#   ci/cargo-deny.sh advisories              (ci.yml's `advisories` job: needs the RustSec
#                                             advisory database from GitHub)
#
# Installs cargo-deny once per version into a cache outside the checkout
# ($SLIPWAY_TOOLS, default ~/.cache/slipway/tools/cargo-deny-<version>) with `cargo
# install --locked` (a few minutes the first time), with its own target dir so the
# project's build cache is untouched. To bump: change CARGO_DENY_VERSION, run ci/test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO_DENY_VERSION=0.20.2
tools="${SLIPWAY_TOOLS:-$HOME/.cache/slipway/tools}"
root="$tools/cargo-deny-$CARGO_DENY_VERSION"
deny="$root/bin/cargo-deny"
if [[ ! -x "$deny" ]]; then
    echo "==> installing cargo-deny $CARGO_DENY_VERSION into $root (once)" >&2
    CARGO_TARGET_DIR="$tools/cargo-deny-build" \
        cargo install --locked --quiet --root "$root" "cargo-deny@$CARGO_DENY_VERSION" >&2
    rm -rf "$tools/cargo-deny-build"
fi
[[ "$("$deny" --version)" == "cargo-deny $CARGO_DENY_VERSION" ]] || {
    echo "$deny is not cargo-deny $CARGO_DENY_VERSION: remove $root and rerun" >&2
    exit 1
}
(($# > 0)) || set -- licenses bans sources
exec "$deny" --locked --workspace check --show-stats "$@"
