# shellcheck shell=bash
# bench/soak/soak.bash: the `--soak [minutes]` mode of bench/run, sourced by it (it uses bench/run's
# helpers and variables: log, die, start_server, seed_users, stop_pid, psql_admin, drain_outbox, PIDS,
# PG_DBS, OUT, LOADGEN, SECRET, PORT_BASE, RUN_ID, PG_ADMIN_URL, ROOT).
#
# One fresh PostgreSQL database and one release `taskflow`:
#   1. seed BENCH_SOAK_USERS users x BENCH_SOAK_TASKS tasks;
#   2. capacity: the soak's own mix, closed loop, BENCH_SOAK_CAPACITY_SECONDS;
#   3. the soak: BENCH_SOAK_FRACTION of that rate for the given minutes, with BENCH_SOAK_WS
#      WebSockets, BENCH_SOAK_SSE SSE streams and BENCH_SOAK_REMINDERS reminders due during the run;
#      the server sampled every 10 s (bench/soak/sample.py), the client's latency likewise;
#   4. the integrity checks (bench/soak/check.py) once the outbox has drained;
#   5. kill -9 under write load, restart, check that no acknowledged write was lost and measure the
#      first publish after the restart;
#   6. soak.md (bench/soak/report.py); exits bench/run, non-zero if a check failed.
# The rate limits a deployment keeps per user and per address are off: the soak measures the
# server, and 50 users writing at hundreds of requests per second would be throttled by design.

SOAK_FRACTION=${BENCH_SOAK_FRACTION:-0.35}
SOAK_USERS=${BENCH_SOAK_USERS:-50}
SOAK_TASKS=${BENCH_SOAK_TASKS:-100}
SOAK_WS=${BENCH_SOAK_WS:-100}
SOAK_SSE=${BENCH_SOAK_SSE:-20}
SOAK_REMINDERS=${BENCH_SOAK_REMINDERS:-300}
SOAK_CAPACITY_SECONDS=${BENCH_SOAK_CAPACITY_SECONDS:-15}
SOAK_KILL_SECONDS=${BENCH_SOAK_KILL_SECONDS:-20}
SOAK_KILL_AT=${BENCH_SOAK_KILL_AT:-8}

now_us() { echo $(($(date +%s%N) / 1000)); }
json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# start_soak_server PORT URL LOG: taskflow on the soak's database, rate limits off.
start_soak_server() {
    start_server taskflow "$1" "$3" TASKFLOW_DATA_DIR="$OUT/data-soak" DATABASE_URL="$2" \
        JWT_SECRET="$SECRET" LOG_FORMAT=json AUTH_RATE_IP_REGISTRATIONS=0 AUTH_RATE_IP_FAILURES=0 \
        RATE_LOGINS_PER_IP_PER_MIN=0 RATE_WRITES_PER_SEC=0
}

run_soak() {
    local minutes=$1 port=$PORT_BASE dbname url pid rate status=0
    dbname="tf_soak_${RUN_ID,,}_$$"
    psql_admin -qc "CREATE DATABASE \"$dbname\"" >/dev/null || die "cannot create database $dbname"
    PG_DBS+=("$dbname")
    url="${PG_ADMIN_URL%/*}/$dbname?sslmode=disable"
    mkdir -p "$OUT/data-soak"

    log "soak: taskflow on a fresh PostgreSQL database ($dbname)"
    start_soak_server "$port" "$url" "$OUT/taskflow-soak.log"
    pid=$STARTED_PID
    log "  start-up ${STARTUP_MS} ms; seeding $SOAK_USERS users x $SOAK_TASKS tasks"
    seed_users "$port" "$SOAK_USERS" "$SOAK_TASKS" soak
    drain_outbox "$port"

    log "  capacity: the soak's mix, closed loop, ${SOAK_CAPACITY_SECONDS} s"
    "$LOADGEN" soak --base "http://127.0.0.1:$port" --seed "$OUT/seed-soak.txt" --users "$SOAK_USERS" \
        --rate 0 --concurrency 32 --seconds "$SOAK_CAPACITY_SECONDS" --acks "$OUT/capacity-acks.tsv" \
        --pool-out "$OUT/pool-capacity.txt" --drain 1 >"$OUT/capacity.json" 2>"$OUT/capacity.log" ||
        die "capacity run failed ($OUT/capacity.log)"
    rate=$(python3 -c 'import json,sys; print(max(1, round(json.load(open(sys.argv[1]))["achieved_rate"] * float(sys.argv[2]))))' \
        "$OUT/capacity.json" "$SOAK_FRACTION")
    log "  capacity $(json_field "$OUT/capacity.json" achieved_rate) req/s; soaking at $rate req/s for $minutes min"

    python3 "$ROOT/bench/soak/sample.py" --pid "$pid" --port "$port" --db-url "$url" \
        --out "$OUT/server-samples.jsonl" --every 10 2>"$OUT/sampler.log" &
    local sampler=$!
    PIDS+=("$sampler")
    "$LOADGEN" soak --base "http://127.0.0.1:$port" --seed "$OUT/pool-capacity.txt" --users "$SOAK_USERS" \
        --rate "$rate" --seconds "$(python3 -c "print(round($minutes * 60))")" --ws "$SOAK_WS" --sse "$SOAK_SSE" \
        --reminders "$SOAK_REMINDERS" --acks "$OUT/soak-acks.tsv" --received "$OUT/events.tsv" \
        --samples "$OUT/client-samples.jsonl" --pool-out "$OUT/pool-soak.txt" \
        >"$OUT/soak.json" 2>"$OUT/soak.log" || die "soak load failed ($OUT/soak.log)"
    stop_pid "$sampler"
    log "  soak: $(cat "$OUT/soak.json")"

    log "  integrity checks"
    python3 "$ROOT/bench/soak/check.py" --db-url "$url" --acks "$OUT/capacity-acks.tsv" \
        --acks "$OUT/soak-acks.tsv" --load "$OUT/soak.json" --received "$OUT/events.tsv" \
        >"$OUT/checks.json" || die "the integrity checks could not run"
    soak_negative_control "$url"

    soak_kill_phase "$port" "$url" "$pid" "$rate"

    python3 - "$OUT/machine.json" <<PY
import json, sys
m = json.load(open(sys.argv[1]))
m["load_after"] = open("/proc/loadavg").read().split()[:3]
json.dump(m, open(sys.argv[1], "w"))
PY
    python3 "$ROOT/bench/soak/report.py" --machine "$OUT/machine.json" --capacity "$OUT/capacity.json" \
        --load "$OUT/soak.json" --checks "$OUT/checks.json" --kill "$OUT/kill.json" \
        --client-samples "$OUT/client-samples.jsonl" --server-samples "$OUT/server-samples.jsonl" \
        --fraction "$SOAK_FRACTION" --out "$OUT/soak.md" || status=$?
    cat "$OUT/soak.md"
    log "soak done in $((SECONDS - RUN_STARTED)) s; report: $OUT/soak.md"
    ((status == 0)) || log "AN INTEGRITY CHECK FAILED (see the report)"
    exit "$status"
}

# soak_negative_control URL: the checks must be able to fail. The same checks on the soak's logs with
# one acknowledged write made up (a task that never existed) and one received event removed must
# report a lost write and a missed event; otherwise the checks are broken and the run fails.
soak_negative_control() {
    local url=$1 verdict
    cp "$OUT/soak-acks.tsv" "$OUT/control-acks.tsv"
    printf 'control\tupdate\tok\tcontrol-user\t%s\t7\t0\n' "$(cat /proc/sys/kernel/random/uuid)" >>"$OUT/control-acks.tsv"
    tail -n +2 "$OUT/events.tsv" >"$OUT/control-events.tsv"
    cp "$OUT/events.tsv.clients" "$OUT/control-events.tsv.clients"
    python3 "$ROOT/bench/soak/check.py" --db-url "$url" --acks "$OUT/control-acks.tsv" --checks writes,sockets \
        --load "$OUT/soak.json" --received "$OUT/control-events.tsv" >"$OUT/control-checks.json" ||
        die "the negative control could not run"
    verdict=$(python3 -c 'import json,sys; c = json.load(open(sys.argv[1]))["checks"]; print(" ".join(str(x["ok"]) for x in c))' \
        "$OUT/control-checks.json")
    [[ $verdict == "False False" ]] ||
        die "negative control: the checks passed a made-up lost write or a removed event ($verdict; $OUT/control-checks.json)"
    log "  negative control: a made-up lost write and a removed event are both caught"
}

# soak_kill_phase PORT URL PID RATE: kill -9 under write load, restart, check, measure.
soak_kill_phase() {
    local port=$1 url=$2 pid=$3 rate=$4 load t_kill t_listen pending first
    log "  kill -9 phase: writes at $rate req/s, SIGKILL after ${SOAK_KILL_AT} s"
    "$LOADGEN" soak --base "http://127.0.0.1:$port" --seed "$OUT/pool-soak.txt" --users "$SOAK_USERS" \
        --pool-tasks 0 --mix writes --rate "$rate" --seconds "$SOAK_KILL_SECONDS" \
        --acks "$OUT/kill-acks.tsv" >"$OUT/kill-load.json" 2>"$OUT/kill-load.log" &
    load=$!
    PIDS+=("$load")
    sleep "$SOAK_KILL_AT"
    kill -KILL "$pid"
    t_kill=$(now_us)
    wait "$pid" 2>/dev/null || true
    pending=$(psql "$url" -Atc "select count(*) from outbox where published_at is null")
    start_soak_server "$port" "$url" "$OUT/taskflow-soak-restarted.log"
    t_listen=$(now_us)
    local restart_ms=$STARTUP_MS
    wait "$load" || die "the kill -9 phase's load client failed ($OUT/kill-load.log)"
    local t0=$SECONDS
    drain_outbox "$port"
    local drained=$((SECONDS - t0))
    first=$(psql "$url" -Atc "select (extract(epoch from min(published_at)) * 1e6)::bigint from outbox where published_at > to_timestamp($t_kill / 1e6)")
    python3 "$ROOT/bench/soak/check.py" --db-url "$url" --acks "$OUT/kill-acks.tsv" --checks writes,audit \
        >"$OUT/kill-checks.json" || die "the kill -9 phase's checks could not run"
    python3 - "$OUT" "$rate" "$SOAK_KILL_AT" "$SOAK_KILL_SECONDS" "$restart_ms" "$pending" "$t_kill" "$t_listen" "${first:-0}" "$drained" <<'PY'
import json, sys
out, rate, at, secs, restart, pending, t_kill, t_listen, first, drained = sys.argv[1:]
first = int(first)
json.dump({
    "rate": int(rate), "killed_after_s": int(at), "seconds": int(secs), "restart_ms": int(restart),
    "pending_at_restart": int(pending),
    "first_publish_after_listen_ms": round((first - int(t_listen)) / 1000, 1) if first else None,
    "first_publish_after_kill_ms": round((first - int(t_kill)) / 1000, 1) if first else None,
    "drain_secs": int(drained),
    "load": json.load(open(f"{out}/kill-load.json")),
    "checks": json.load(open(f"{out}/kill-checks.json"))["checks"],
}, open(f"{out}/kill.json", "w"))
PY
    log "  kill -9: $(cat "$OUT/kill.json" | head -c 400)"
    stop_pid "$STARTED_PID"
}
