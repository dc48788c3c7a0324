#!/usr/bin/env bash
# Fuzzes a running TaskFlow API with schemathesis against its own /openapi.json: every check, the
# examples, coverage, fuzzing and stateful phases, authenticated as a freshly registered user.
# Exits non-zero on any finding.
#
# Usage: tests/api-fuzz/run.sh BASE_URL [MAX_EXAMPLES] [SEED]
#   needs `st` (schemathesis, pinned in .ci/run) and curl + python3 on PATH.
# It registers a user, and schemathesis registers more: against a server that already took 50
# registrations from this address in the last 15 minutes, start a fresh one or set
# AUTH_RATE_IP_REGISTRATIONS=0 on it.
# Without SEED the run is deterministic (what CI does: the same inputs every time, so a red run is
# reproducible). Longer runs: raise MAX_EXAMPLES (e.g. 1000) and pass a SEED (`random` for a fresh
# one) to explore new inputs; a failure prints the seed and an `st replay` id to reproduce it.
set -Eeuo pipefail

base=${1:?usage: run.sh BASE_URL [MAX_EXAMPLES] [SEED]}
max_examples=${2:-50}
seed=${3:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

email="fuzz-$(date +%s)-$$@example.com"
password='schemathesis fuzz password'
status=$(curl -sS -o "$work/body" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data "{\"name\":\"Fuzz\",\"email\":\"$email\",\"password\":\"$password\"}" "$base/api/auth/register")
[[ "$status" == 201 ]] || { echo "register: HTTP $status: $(cat "$work/body")" >&2; exit 1; }
status=$(curl -sS -o "$work/body" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data "{\"email\":\"$email\",\"password\":\"$password\"}" "$base/api/auth/login")
[[ "$status" == 200 ]] || { echo "login: HTTP $status: $(cat "$work/body")" >&2; exit 1; }
TF_TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$work/body")
TF_USER_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["user"]["id"])' "$work/body")
export TF_TOKEN TF_USER_ID

generation=(--generation-deterministic)
if [[ "$seed" == random ]]; then
    generation=()
elif [[ -n "$seed" ]]; then
    generation=(--seed "$seed")
fi

# hooks.py: unique Idempotency-Keys in the stateful phase (why: in the file).
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" SCHEMATHESIS_HOOKS=hooks

# From the scratch directory: schemathesis keeps per-project state in ./.schemathesis.
cd "$work"
st --config-file "$here/schemathesis.toml" run "$base/openapi.json" \
    --url "$base" \
    --checks all \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$max_examples" \
    "${generation[@]}" \
    --workers 1 \
    --no-color \
    --report junit --report-dir "${ST_REPORT_DIR:-$work/report}"
