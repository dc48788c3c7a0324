# shellcheck shell=bash
# bench/growth/growth.bash: the `--growth` mode of bench/run, sourced by it (it uses bench/run's
# helpers and variables: log, die, start_server, seed_users, stop_pid, psql_admin, drain_outbox,
# run_wrk, record, status_kib, PIDS, PG_DBS, OUT, RESULTS, LOADGEN, SECRET, PORT_BASE, RUN_ID,
# PG_ADMIN_URL, ROOT, SECONDS_PER, MAX_ERROR_PCT).
#
# Does the cost of a request stay flat as the database grows? One fresh PostgreSQL database and one
# release `taskflow`:
#   1. seed BENCH_GROWTH_MEASURED users x BENCH_GROWTH_PER_USER tasks through the REST API: the
#      measured users, and the rows every grown row is copied from;
#   2. for each size of BENCH_GROWTH_SIZES (tasks in the database, ascending, cumulative):
#      a. grow the database to that size with set-based SQL (bench/growth/grow.sql): new users with
#         BENCH_GROWTH_PER_USER tasks each, every column copied from the measured users' rows (tasks,
#         their reminders, their published `task-created` outbox rows, audit entries and
#         processed-event marks), so each task has one published outbox row and one audit row;
#      b. VACUUM ANALYZE and CHECKPOINT (so neither autovacuum nor a checkpoint of the bulk insert
#         runs inside a measurement); table and index sizes recorded; `sync`, then
#         BENCH_GROWTH_SETTLE seconds (60) idle;
#      c. wrk, as bench/run's scenarios (bench/wrk/taskflow.lua, same threads, connections, warm-up
#         and seconds), over the measured users only: get one task, list 50 in the default order,
#         list 50 by `sort_by=due_at`, create; the server's peak RSS per scenario;
#      d. the tasks `create` made are deleted again with their outbox rows, audit entries and
#         processed-event marks, so the measured users hold the same tasks at every size and the
#         database holds the nominal size when it grows to the next one;
#   3. growth.md (bench/growth/report.py): req/s, p50/p99 and the ratio to the smallest size per
#      scenario, a verdict per scenario against issue 19's target (every size within 20 % of each
#      other), the sizes of the tables; exits bench/run, non-zero if the server failed or a scenario's
#      errors exceeded BENCH_MAX_ERROR_PCT. Missed targets do not fail the run.
# The per-user write limit is off (the measured users create thousands of tasks a second).

GROWTH_SIZES=${BENCH_GROWTH_SIZES:-1000 100000 1000000}
GROWTH_PER_USER=${BENCH_GROWTH_PER_USER:-100}
GROWTH_MEASURED=${BENCH_GROWTH_MEASURED:-10}
GROWTH_SETTLE=${BENCH_GROWTH_SETTLE:-60}

# growth_psql URL ARGS...: psql on the growth database, stopping at the first error.
growth_psql() {
    local url=$1
    shift
    PGCONNECT_TIMEOUT=5 psql "$url" -X -q -v ON_ERROR_STOP=1 -At "$@"
}

# growth_sizes_json URL SIZE GROW_SECS: one result row with the database's table and index sizes.
growth_sizes_json() {
    local url=$1 size=$2 secs=$3 tables
    tables=$(growth_psql "$url" -c "
        select coalesce(json_agg(json_build_object(
                 'table', c.relname, 'rows', c.reltuples::bigint,
                 'total_bytes', pg_total_relation_size(c.oid), 'table_bytes', pg_relation_size(c.oid),
                 'index_bytes', pg_indexes_size(c.oid)) order by pg_total_relation_size(c.oid) desc), '[]')
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public' and c.relkind = 'r'") || die "reading the table sizes failed"
    local counts
    counts=$(growth_psql "$url" -c "
        select json_build_object('tasks', (select count(*) from tasks),
               'users', (select count(*) from users),
               'outbox_published', (select count(*) from outbox where published_at is not null),
               'outbox_pending', (select count(*) from outbox where published_at is null),
               'audit_logs', (select count(*) from audit_logs),
               'task_reminders', (select count(*) from task_reminders),
               'processed_events', (select count(*) from processed_events),
               'database_bytes', pg_database_size(current_database()))") ||
        die "counting the rows failed"
    record "$(printf '{"kind":"growth_size","size":%s,"grow_secs":%s,"counts":%s,"tables":%s}' \
        "$size" "$secs" "$counts" "$tables")"
    log "  rows: $counts"
}

# growth_measure DB_LABEL PID PORT SIZE: the four wrk scenarios at one size.
growth_measure() {
    local label=$1 pid=$2 port=$3 size=$4 load_before
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    log "  load average before: $load_before"
    run_wrk "$label" "$pid" "$port" get "get@$size" "$SECONDS_PER"
    BENCH_LIST='?limit=50' run_wrk "$label" "$pid" "$port" list "list@$size" "$SECONDS_PER"
    BENCH_LIST='?sort_by=due_at&limit=50' run_wrk "$label" "$pid" "$port" list "list-due@$size" "$SECONDS_PER"
    run_wrk "$label" "$pid" "$port" create "create@$size" "$SECONDS_PER"
    drain_outbox "$port"
    record "$(printf '{"kind":"growth_rss","size":%s,"load_before":"%s","load_after":"%s","rss_mib":%s,"hwm_mib":%s}' \
        "$size" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)" \
        "$(awk -v k="$(status_kib "$pid" VmRSS)" 'BEGIN{printf "%.1f", k/1024}')" \
        "$(awk -v k="$(status_kib "$pid" VmHWM)" 'BEGIN{printf "%.1f", k/1024}')")"
}

run_growth() {
    local port=$PORT_BASE dbname url pid size prev=0 t0 secs status=0 measured_tasks users_csv
    measured_tasks=$((GROWTH_MEASURED * GROWTH_PER_USER))
    # shellcheck disable=SC2206  # a list of numbers, split on purpose
    local sizes=($GROWTH_SIZES)
    ((${#sizes[@]} > 0)) || die "BENCH_GROWTH_SIZES is empty"
    for size in "${sizes[@]}"; do
        [[ $size =~ ^[0-9]+$ ]] || die "BENCH_GROWTH_SIZES: $size is not a number"
        ((size > prev)) || die "BENCH_GROWTH_SIZES must ascend (the sizes are cumulative): $GROWTH_SIZES"
        ((size % GROWTH_PER_USER == 0)) || die "BENCH_GROWTH_SIZES: $size is not a multiple of $GROWTH_PER_USER tasks per user"
        prev=$size
    done
    ((sizes[0] >= measured_tasks)) ||
        die "the smallest size (${sizes[0]}) must hold the measured users' $measured_tasks tasks"

    dbname="tf_growth_${RUN_ID,,}_$$"
    psql_admin -qc "CREATE DATABASE \"$dbname\"" >/dev/null || die "cannot create database $dbname"
    if [[ ${BENCH_GROWTH_KEEP_DB:-0} == 1 ]]; then
        log "BENCH_GROWTH_KEEP_DB=1: the database $dbname stays after the run (drop it yourself)"
    else
        PG_DBS+=("$dbname")
    fi
    url="${PG_ADMIN_URL%/*}/$dbname?sslmode=disable"
    mkdir -p "$OUT/data-growth"

    log "growth: taskflow on a fresh PostgreSQL database ($dbname), sizes: ${sizes[*]} tasks"
    start_server taskflow "$port" "$OUT/taskflow-growth.log" TASKFLOW_DATA_DIR="$OUT/data-growth" \
        DATABASE_URL="$url" JWT_SECRET="$SECRET" LOG_FORMAT=json AUTH_RATE_IP_REGISTRATIONS=0 \
        AUTH_RATE_IP_FAILURES=0 RATE_LOGINS_PER_IP_PER_MIN=0 RATE_WRITES_PER_SEC=0
    pid=$STARTED_PID
    log "  start-up ${STARTUP_MS} ms; seeding the $GROWTH_MEASURED measured users x $GROWTH_PER_USER tasks through the API"
    seed_users "$port" "$GROWTH_MEASURED" "$GROWTH_PER_USER" growth
    drain_outbox "$port"
    # The measured users, from the seed file ("U idx user_id token"); the first one's rows are the
    # template every grown user's rows are copied from.
    users_csv=$(awk '$1 == "U" {printf "%s%s", sep, $3; sep = ","}' "$OUT/seed-growth.txt")
    [[ -n $users_csv ]] || die "no users in the seed file ($OUT/seed-growth.txt)"

    for size in "${sizes[@]}"; do
        kill -0 "$pid" 2>/dev/null || die "taskflow exited (log: $OUT/taskflow-growth.log)"
        log "growing the database to $size tasks (set-based SQL, bench/growth/grow.sql)"
        t0=$(date +%s%N)
        growth_psql "$url" -1 -v target="$size" -v per_user="$GROWTH_PER_USER" -v measured="$users_csv" \
            -v run="${RUN_ID,,}" -f "$ROOT/bench/growth/grow.sql" >"$OUT/grow-$size.log" 2>&1 ||
            {
                tail -n 20 "$OUT/grow-$size.log" >&2
                die "growing to $size tasks failed ($OUT/grow-$size.log)"
            }
        growth_psql "$url" -c 'VACUUM ANALYZE' >>"$OUT/grow-$size.log" 2>&1 || die "VACUUM ANALYZE failed"
        growth_psql "$url" -c 'CHECKPOINT' >>"$OUT/grow-$size.log" 2>&1 ||
            log "  warning: CHECKPOINT refused (needs a superuser or pg_checkpoint); a checkpoint may fall inside a measurement"
        secs=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN{printf "%.1f", (b-a)/1e9}')
        log "  grown in $secs s (with VACUUM ANALYZE and CHECKPOINT)"
        growth_sizes_json "$url" "$size" "$secs"
        # The bulk load is the benchmark's, not the application's: let the machine finish with it
        # (the kernel's write-back, PostgreSQL's background writers) before measuring.
        sync
        log "  settling for ${GROWTH_SETTLE} s (dirty page cache: $(awk '$1 == "Dirty:" {print $2, $3}' /proc/meminfo))"
        sleep "$GROWTH_SETTLE"

        log "  measuring at $size tasks"
        growth_measure growth "$pid" "$port" "$size"
        # The tasks `create` made go again, with their events: the measured users keep their tasks,
        # and the next size grows from the nominal one.
        growth_psql "$url" -v measured="$users_csv" -f "$ROOT/bench/growth/unmake.sql" >>"$OUT/grow-$size.log" 2>&1 ||
            die "deleting the created tasks failed ($OUT/grow-$size.log)"
    done
    stop_pid "$pid"

    python3 - "$OUT/machine.json" <<PY
import json, sys
m = json.load(open(sys.argv[1]))
m["load_after"] = open("/proc/loadavg").read().split()[:3]
m["wall_secs"] = $((SECONDS - RUN_STARTED))
json.dump(m, open(sys.argv[1], "w"))
PY
    python3 "$ROOT/bench/growth/report.py" --results "$RESULTS" --machine "$OUT/machine.json" \
        --seconds "$SECONDS_PER" --max-error-pct "$MAX_ERROR_PCT" --out "$OUT/growth.md" || status=$?
    cat "$OUT/growth.md"
    log "growth done in $((SECONDS - RUN_STARTED)) s; report: $OUT/growth.md"
    exit "$status"
}
