#!/usr/bin/env python3
"""bench/run --growth's report (growth.md) from its results.jsonl, and its verdict: exits 1 when a
scenario's errors exceed --max-error-pct, 0 otherwise. Missed targets never fail the run.

The target (issue 19): get, list and create cost the same, within 20 %, whatever the size of the
database. A scenario meets it when its lowest req/s over the sizes is at least 80 % of its highest
(every size within 20 % of every other); the table gives each size's ratio to the smallest size.
On a shared machine req/s also moves with the neighbours' load, so the report gives the cost per
request too: the server's and PostgreSQL's CPU time per request (CPU cores over the run divided by
req/s; PostgreSQL's sums every postgres process, other clients included), with the same 20 % check.
"""
import argparse
import json
import sys

SCENARIOS = [
    ("get", "get one task"),
    ("list", "list 50, default order"),
    ("list-due", "list 50, `sort_by=due_at`"),
    ("create", "create"),
]
TABLES = ["tasks", "outbox", "audit_logs", "task_reminders", "processed_events", "users"]


def http_errors(w):
    return w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["status_errors"] + w["timeouts"]


def cpu_us(cores, rps):
    return 1e6 * float(cores) / rps if rps else 0.0


def mib(b):
    return f"{b / 1048576:,.1f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--machine", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--max-error-pct", type=float, default=0.1)
    a = ap.parse_args()

    rows = [json.loads(line) for line in open(a.results) if line.strip()]
    m = json.load(open(a.machine))
    http = {}
    for r in rows:
        if r.get("kind") == "http" and "@" in r["scenario"]:
            name, size = r["scenario"].rsplit("@", 1)
            http[(name, int(size))] = r
    sizes = sorted({r["size"] for r in rows if r.get("kind") == "growth_size"})
    grown = {r["size"]: r for r in rows if r.get("kind") == "growth_size"}
    rss = {r["size"]: r for r in rows if r.get("kind") == "growth_rss"}

    out, status = [], 0
    out.append("# bench/run --growth\n")
    out.append(
        f"Run on {m.get('date', '?')} at commit `{m.get('commit', '?')}`, in {m.get('wall_secs', '?')} s. "
        f"{m.get('nproc')} CPUs ({m.get('cpu')}{', ' + m['hypervisor'] + ' guest' if m.get('hypervisor') else ''}), "
        f"{m.get('ram_gib')} GiB RAM, {m.get('os')}; {m.get('rustc')}; {m.get('wrk')}; {m.get('postgres')}. "
        f"Load average before {' '.join(m.get('load_before', []))}, after {' '.join(m.get('load_after', []))}.\n"
    )
    out.append(
        "Each size is the number of tasks in the database, with as many published outbox rows and audit "
        "entries; the sizes are cumulative (one database grown by SQL). Every scenario runs over the same "
        f"measured users, who hold the same tasks at every size; wrk, {a.seconds} s per scenario after a "
        "1 s warm-up. Ratio: req/s against the smallest size. Peak RSS: the server's VmHWM during the scenario.\n"
    )
    out.append("| Scenario | Tasks in the database | req/s | ratio | p50 (ms) | p99 (ms) | p99 ratio | Errors | "
               "Server CPU (cores) | PostgreSQL CPU (cores) | Server + PostgreSQL CPU per request (µs) | ratio | Peak RSS (MiB) |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    verdicts = []
    for key, label in SCENARIOS:
        base = None
        rates, costs = [], []
        for size in sizes:
            r = http.get((key, size))
            if r is None:
                continue
            w = r["wrk"]
            errs = http_errors(w)
            pct = 100.0 * errs / max(1, w["requests"])
            if pct > a.max_error_pct:
                status = 1
            if base is None:
                base = w
            rates.append((size, w["rps"]))
            cost = cpu_us(r["cpu"], w["rps"]) + cpu_us(r["db_cpu"], w["rps"])
            costs.append((size, cost))
            out.append(
                f"| {label} | {size:,} | {w['rps']:.0f} | {w['rps'] / base['rps']:.2f} | {w['p50_us'] / 1000:.1f} | "
                f"{w['p99_us'] / 1000:.1f} | {w['p99_us'] / max(1, base['p99_us']):.2f} | {errs}"
                f"{' (' + format(pct, '.2f') + ' %)' if errs else ''} | {r['cpu']} | {r['db_cpu']} | "
                f"{cpu_us(r['cpu'], w['rps']):.0f} + {cpu_us(r['db_cpu'], w['rps']):.0f} = {cost:.0f} | "
                f"{cost / costs[0][1]:.2f} | {r['rss_mib']} |"
            )
        if len(rates) >= 2:
            lo = min(rates, key=lambda x: x[1])
            hi = max(rates, key=lambda x: x[1])
            spread = lo[1] / hi[1]
            met = spread >= 0.8
            cheap = min(costs, key=lambda x: x[1])
            dear = max(costs, key=lambda x: x[1])
            cost_met = cheap[1] / dear[1] >= 0.8
            verdicts.append(
                f"- **{label}**: req/s {'met' if met else '**not met**'}: lowest {lo[1]:.0f} req/s at {lo[0]:,} tasks "
                f"is {100 * spread:.0f} % of the highest, {hi[1]:.0f} at {hi[0]:,} (at {sizes[-1]:,} tasks "
                f"{100 * rates[-1][1] / rates[0][1]:.0f} % of {sizes[0]:,}); CPU per request "
                f"{'met' if cost_met else '**not met**'}: {cheap[1]:.0f} µs at {cheap[0]:,} to {dear[1]:.0f} µs at "
                f"{dear[0]:,} (at {sizes[-1]:,} tasks {costs[-1][1] / costs[0][1]:.2f}× {sizes[0]:,})"
            )
    out.append("")
    out.append("**Verdict** (issue 19: every size within 20 % of each other, i.e. the lowest req/s at least 80 % of "
               "the highest; the same for CPU per request):\n")
    out.extend(verdicts or ["- fewer than two sizes measured: no verdict"])
    out.append("")

    out.append("**The database at each size** (after VACUUM ANALYZE, before the measurements; MiB; "
               "`pg_total_relation_size` = table + indexes + TOAST):\n")
    head = "| Tasks | Grown in (s) | Users | Published outbox rows | Audit rows | Database (MiB) | " + \
        " | ".join(f"`{t}` total / indexes" for t in TABLES) + " | Server RSS after (MiB) | Load average before → after the scenarios |"
    out.append(head)
    out.append("|" + "---:|" * (head.count("|") - 1))
    for size in sizes:
        g = grown[size]
        c = g["counts"]
        t = {x["table"]: x for x in g["tables"]}
        cells = [f"{mib(t[n]['total_bytes'])} / {mib(t[n]['index_bytes'])}" if n in t else "–" for n in TABLES]
        out.append(
            f"| {size:,} | {g['grow_secs']} | {c['users']:,} | {c['outbox_published']:,} | {c['audit_logs']:,} | "
            f"{mib(c['database_bytes'])} | " + " | ".join(cells) + f" | {rss.get(size, {}).get('rss_mib', '–')} | {rss.get(size, {}).get('load_before', '?')} → "
            f"{rss.get(size, {}).get('load_after', '?')} |"
        )
    out.append("")
    if status:
        out.append(f"**A scenario's errors exceeded {a.max_error_pct} %**: the run fails.\n")
    with open(a.out, "w") as f:
        f.write("\n".join(out) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
