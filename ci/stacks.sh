#!/usr/bin/env bash
# The stacks deploy.yml deploys, as the JSON array its matrix takes: every stack file in
# config/ (config/<stack>.toml, as `provision` finds them), or only STACK when given —
# which must be one of them. Nothing here names a stack: adding config/<name>.toml adds
# it to the deploys.
#
#   ci/stacks.sh [STACK]        e.g. ["shop","sums","voting"]  or  ["sums"]
#
# SLIPWAY_CONFIG_DIR (relative to the repository root; default config) as for provision.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir="${SLIPWAY_CONFIG_DIR:-config}"

stacks=()
for file in "$dir"/*.toml; do
    [[ -f "$file" ]] || continue
    name="$(basename "$file" .toml)"
    # Stack names become AWS names and GitHub environment names (`<stack>-<env>`).
    if [[ ! "$name" =~ ^[a-z][a-z0-9-]*$ ]]; then
        echo "ci/stacks.sh: $file: a stack name is lowercase letters, digits and -, starting with a letter; rename the file" >&2
        exit 1
    fi
    stacks+=("$name")
done
if [[ ${#stacks[@]} -eq 0 ]]; then
    echo "ci/stacks.sh: no stack file in $dir: write one with \`provision init\`" >&2
    exit 1
fi
mapfile -t stacks < <(printf '%s\n' "${stacks[@]}" | LC_ALL=C sort)

if [[ -n "${1:-}" ]]; then
    for name in "${stacks[@]}"; do
        if [[ "$name" == "$1" ]]; then
            printf '["%s"]\n' "$1"
            exit 0
        fi
    done
    echo "ci/stacks.sh: no stack \`$1\` in $dir; its stacks: ${stacks[*]}" >&2
    exit 1
fi
json="$(printf '"%s",' "${stacks[@]}")"
printf '[%s]\n' "${json%,}"
