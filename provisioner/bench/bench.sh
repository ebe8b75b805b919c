#!/usr/bin/env bash
# Provisioner benchmark against a throwaway moto server on loopback:
#   - `provision plan` on an up-to-date stack (target: < 3 s), N runs
#   - peak concurrent AWS operations during `up`, and the stack's critical path.
# Usage: provisioner/bench/bench.sh [STACK] [RUNS]   (uses the pinned .venv/moto, made if missing)
set -euo pipefail
stack=${1:-voting}
runs=${2:-10}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# The pinned, project-local moto (ci/python/moto-requirements.txt).
PATH="$(bash ci/python-env.sh moto):$PATH"
# The debug build (what `cargo test` builds anyway): no extra release compile in CI.
cargo build -q -p provisioner
bin=${CARGO_TARGET_DIR:-$root/target}/debug/provision
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# moto_server behind the CloudWatch CBOR translation the Rust SDK needs (see the script).
MOTO_IAM_LOAD_MANAGED_POLICIES=true python3 provisioner/tests/moto_cbor.py -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null' EXIT
for _ in $(seq 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing \
  AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
up=$("$bin" --stack "$stack" --yes --output json up 2>/dev/null)
python3 - "$up" <<'PY'
import json, sys
outcome = json.loads(sys.argv[1])["outcome"]
print(f"up: {len(outcome['done'])} resources in {outcome['elapsed_secs']:.2f} s, "
      f"peak {outcome['peak_concurrent_calls']} concurrent AWS operations")
PY
python3 - "$bin" "$stack" "$runs" <<'PY'
import statistics, subprocess, sys, time
binary, stack, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
times = []
for _ in range(runs):
    started = time.perf_counter()
    out = subprocess.run([binary, "--stack", stack, "plan"], capture_output=True, text=True, check=True)
    times.append(time.perf_counter() - started)
    assert "No changes" in out.stdout, out.stdout
print(f"plan (up to date, {runs} runs): median {statistics.median(times):.3f} s, "
      f"max {max(times):.3f} s, mean {statistics.mean(times):.3f} s")
PY
"$bin" --stack "$stack" graph | tail -1
