#!/usr/bin/env bash
# Fuzzes a running TaskFlow API with schemathesis against its own /openapi.json: every check, the
# examples, coverage, fuzzing and stateful phases, authenticated as a freshly registered user.
# Exits non-zero on any finding.
#
# Usage: tests/api-fuzz/run.sh BASE_URL [MAX_EXAMPLES] [SEED]
#   needs `st` (schemathesis, pinned in .ci/run) and curl + python3 on PATH.
# Longer runs: raise MAX_EXAMPLES (e.g. 1000) and drop the seed for fresh inputs each time.
set -Eeuo pipefail

base=${1:?usage: run.sh BASE_URL [MAX_EXAMPLES] [SEED]}
max_examples=${2:-50}
seed=${3:-20261123}
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

st --config-file "$here/schemathesis.toml" run "$base/openapi.json" \
    --url "$base" \
    --checks all \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$max_examples" \
    --seed "$seed" \
    --generation-deterministic \
    --workers 1 \
    --no-color \
    --report junit --report-dir "${ST_REPORT_DIR:-$work/report}"
