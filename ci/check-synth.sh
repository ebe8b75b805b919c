#!/usr/bin/env bash
# `provision synth` output checked by AWS's own schemas and policy linters, pinned:
#   cfn-lint   the CloudFormation resource specification (types, properties, values,
#              references): zero errors; warnings fixed or ignored in ci/cfn-lint.yaml.
#   checkov    security best practices for CloudFormation: zero failed checks; every
#              accepted failure in ci/checkov-skips.yaml with its reason.
#   parliament every IAM inline policy (actions exist, resources match them) and the
#              operator's policy of each stack (`provision policy`): zero findings;
#              every accepted one in ci/parliament-accepted.yaml with its reason.
# Builds nothing: takes the `provision` binary from $PROVISION, else the cargo target dir.
# The validators live in .venv/lint (ci/python/lint-requirements.txt, every dependency
# pinned with ==), recreated only when the pin list changes.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

provision="${PROVISION:-${CARGO_TARGET_DIR:-$root/target}/debug/provision}"
if [[ ! -x "$provision" ]]; then
    echo "check-synth: no provision binary at $provision; build it (cargo build --workspace) or set PROVISION" >&2
    exit 2
fi

# The same environment `ci/python-env.sh lint` makes (stamp and all), where that script exists.
venv="$root/.venv/lint"
if [[ -x "$root/ci/python-env.sh" ]]; then
    "$root/ci/python-env.sh" lint >/dev/null
else
    pins="$root/ci/python/lint-requirements.txt"
    sum="$(sha256sum "$pins" | cut -d' ' -f1)"
    if [[ ! -x "$venv/bin/python3" || "$(cat "$venv/.pins.sha256" 2>/dev/null)" != "$sum" ]]; then
        echo "check-synth: creating .venv/lint from ci/python/lint-requirements.txt" >&2
        rm -rf "$venv"
        python3 -m venv "$venv"
        # --no-deps: the pin list is complete, pip picks no other version.
        "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check --no-deps -r "$pins"
        "$venv/bin/python3" -m pip check >&2
        echo "$sum" >"$venv/.pins.sha256"
    fi
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The shipped stack files with a `[github]` section (where they have none), so the
# GitHub deploy role and its conditions are checked too.
config="$work/config"
cp -r "$root/config" "$config"
for file in "$config"/*.toml; do
    grep -q '^\[github\]' "$file" || printf '\n[github]\nrepository = "acme/slipway"\n' >>"$file"
done
# And voting with a domain: the ACM certificate, its DNS validation and the alias records
# (dev: the hosted zone looked up by name, a template parameter; prod: a zone id).
printf '\n[domain]\nname = "vote.example.com"\n\n[env.prod.domain]\nname = "example.com"\nzone_id = "Z0123456789ABCDEFGHIJ"\n' \
    >>"$config/voting.toml"
templates=()
for stack in voting sums shop; do
    for env in dev prod; do
        file="$work/$stack-$env.json"
        "$provision" --config-dir "$config" --stack "$stack" --env "$env" synth --out "$file" 2>/dev/null
        templates+=("$file")
    done
done
echo "check-synth: synthesized ${#templates[@]} templates" >&2

status=0

# cfn-lint: JSON findings, counted by level.
set +e
"$venv/bin/cfn-lint" --config-file "$root/ci/cfn-lint.yaml" --format json -- "${templates[@]}" >"$work/cfn-lint.json"
set -e
read -r lint_errors lint_warnings lint_info < <("$venv/bin/python" - "$work/cfn-lint.json" <<'EOF'
import json, sys
findings = json.load(open(sys.argv[1]))
count = lambda level: sum(1 for f in findings if f["Level"] == level)
print(count("Error"), count("Warning"), count("Informational"))
for f in findings:
    location = f["Location"]["Path"]
    print(f'  {f["Level"]} {f["Rule"]["Id"]} {f["Filename"].rsplit("/", 1)[-1]}: {"/".join(map(str, location))}: {f["Message"]}', file=sys.stderr)
EOF
)
echo "cfn-lint: $lint_errors errors, $lint_warnings warnings, $lint_info informational"
if ((lint_errors + lint_warnings > 0)); then status=1; fi

# checkov: every failure must be accepted, with its reason, in ci/checkov-skips.yaml.
# --skip-download: no network (severities and guideline links stay out).
set +e
"$venv/bin/checkov" --framework cloudformation --skip-download --quiet --compact \
    --output json -d "$work" >"$work/checkov.json" 2>"$work/checkov.err"
set -e
read -r checks_passed checks_failed checks_skipped < <("$venv/bin/python" - "$work/checkov.json" "$root/ci/checkov-skips.yaml" <<'EOF'
import json, sys, yaml
report = json.load(open(sys.argv[1]))
reports = report if isinstance(report, list) else [report]
skips = yaml.safe_load(open(sys.argv[2]))
for skip in skips:
    assert skip.get("reason", "").strip(), f"{skip['check']}: a skip needs its reason"

def accepted(check):
    template = check["file_path"].rsplit("/", 1)[-1].removesuffix(".json")
    logical = check["resource"].rsplit(".", 1)[-1]
    return any(
        skip["check"] == check["check_id"]
        and ("*" in skip["resources"] or logical in skip["resources"])
        and template in skip.get("templates", [template])
        for skip in skips
    )

passed = failed = skipped = 0
for r in reports:
    passed += r.get("summary", {}).get("passed", 0)
    for check in r.get("results", {}).get("failed_checks", []):
        if accepted(check):
            skipped += 1
        else:
            failed += 1
            print(f'  FAILED {check["check_id"]} {check["file_path"]} {check["resource"]}: {check["check_name"]}', file=sys.stderr)
print(passed, failed, skipped)
EOF
)
echo "checkov: $checks_passed passed, $checks_failed failed, $checks_skipped skipped (accepted in ci/checkov-skips.yaml)"
if ((checks_failed > 0 || checks_passed == 0)); then
    status=1
    tail -20 "$work/checkov.err" >&2
fi

# parliament: every inline policy, intrinsics replaced by ARNs of the referenced types;
# every finding must be accepted, with its reason, in ci/parliament-accepted.yaml.
policies="$work/policies"
policy_count="$("$venv/bin/python" "$root/ci/python/synth_policies.py" "$policies" "${templates[@]}")"
# The operator's policy for `up` and `down` (`provision policy`), as ProvisionOperator.
for stack in voting sums shop; do
    for env in dev prod; do
        mkdir -p "$policies/operator-$stack-$env"
        "$provision" --config-dir "$config" --stack "$stack" --env "$env" policy --json \
            >"$policies/operator-$stack-$env/ProvisionOperator.policy.json"
        policy_count=$((policy_count + 1))
    done
done
set +e
"$venv/bin/parliament" --directory "$policies" --json >"$work/parliament.json"
set -e
read -r parliament_findings parliament_accepted < <("$venv/bin/python" - "$work/parliament.json" "$root/ci/parliament-accepted.yaml" <<'EOF'
import json, sys, yaml
accepted_list = yaml.safe_load(open(sys.argv[2]))
for entry in accepted_list:
    assert entry.get("reason", "").strip(), f"{entry['issue']}: an accepted finding needs its reason"
findings = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]

def actions_of(finding):
    # parliament's detail is a list of {"action": …} (most issues), a list of action
    # names (RESOURCE_STAR) or one sentence ending in the action (UNKNOWN_ACTION,
    # UNKNOWN_CONDITION_FOR_ACTION: "Unknown condition K for action A").
    detail = finding.get("detail") or []
    if isinstance(detail, str):
        known = detail.startswith("Unknown action ") or " for action " in detail
        return {detail.rsplit(" ", 1)[-1]} if known else set()
    return {d.get("action") if isinstance(d, dict) else d for d in detail}

def accepted(finding):
    role = finding["location"].get("filepath", "").rsplit("/", 1)[-1].split(".", 1)[0]
    actions = actions_of(finding)
    return any(
        entry["issue"] == finding["issue"]
        and actions and actions <= set(entry["actions"])
        and role in entry.get("roles", [role])
        for entry in accepted_list
    )

rejected = [f for f in findings if not accepted(f)]
for finding in rejected:
    print("  " + json.dumps(finding), file=sys.stderr)
print(len(rejected), len(findings) - len(rejected))
EOF
)
echo "parliament: $policy_count policies, $parliament_findings findings, $parliament_accepted accepted (ci/parliament-accepted.yaml)"
if ((parliament_findings > 0 || policy_count == 0)); then status=1; fi

if ((status != 0)); then
    echo "check-synth: FAILED — fix the constructs (or synth.rs), or justify the finding in the file named above" >&2
fi
exit "$status"
