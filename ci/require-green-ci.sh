#!/usr/bin/env bash
# Refuses to go on unless the `ci` workflow (.github/workflows/ci.yml) succeeded on a push
# of exactly COMMIT: deploy.yml runs it before a manual deploy that builds its own commit,
# so no path deploys code CI has not passed. Pull-request runs do not count: they test a
# merge commit, not COMMIT itself.
#
#   ci/require-green-ci.sh OWNER/REPO COMMIT
#
# Needs the GitHub CLI (`gh`, on GitHub's runners) with GH_TOKEN allowed `actions: read`.
set -euo pipefail
repository="${1:?usage: ci/require-green-ci.sh OWNER/REPO COMMIT}"
commit="${2:?usage: ci/require-green-ci.sh OWNER/REPO COMMIT}"
if [[ ! "$commit" =~ ^[0-9a-f]{40}$ ]]; then
    echo "::error::$commit is not a full commit SHA" >&2
    exit 2
fi
green="$(gh api "repos/$repository/actions/workflows/ci.yml/runs?head_sha=$commit&event=push&status=success&per_page=1" --jq '.total_count')"
if [[ "$green" =~ ^[0-9]+$ ]] && ((green > 0)); then
    echo "CI passed for $commit"
    exit 0
fi
echo "::error::CI has not passed for $commit (no successful push run of ci.yml): push it to main and let CI finish green, or deploy a tag an earlier deploy pushed" >&2
exit 1
