#!/usr/bin/env python3
"""The soak's report (soak.md) from bench/run --soak's files, and its verdict: exits 1 when an
integrity check failed (of the soak or of the kill -9 phase), 0 otherwise. Performance figures and
trends never fail the run; they are reported.

Trend lines: RSS slope is a least-squares fit of RSS against time over the samples after the
warm-up (the first fifth of the run, at least one sample), and again over the second half (growth
that levels off shows there as ~0, a leak does not); latency drift compares the first and the
last minute of the load client's 10 s samples (their p50/p99, weighted by requests).
"""
import argparse
import json
import sys


def load_jsonl(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def slope_per_min(points):
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    den = sum((t - mx) ** 2 for t, _ in points)
    return 0.0 if den == 0 else 60 * sum((t - mx) * (v - my) for t, v in points) / den


def weighted(samples, key):
    total = sum(s["requests"] for s in samples)
    return sum(s[key] * s["requests"] for s in samples) / total if total else 0.0


def per_minute(client, server):
    """One row per minute of the load, client and server samples aligned on the wall clock."""
    if not client:
        return []
    start = client[0]["epoch_ms"] - client[0]["t_secs"] * 1000
    minutes = {}
    for s in client:
        minutes.setdefault(int((s["t_secs"] - 0.001) // 60), [[], None])[0].append(s)
    for s in server:
        m = int((s["epoch_ms"] - start) // 60000)
        if m in minutes:
            minutes[m][1] = s
    rows, events_before = [], 0
    for m in sorted(minutes):
        samples, srv = minutes[m]
        events = samples[-1]["events_received"]
        srv = srv or {}
        rows.append(f"| {m + 1} | {weighted(samples, 'rps'):.0f} | {weighted(samples, 'p50_ms'):.2f} | "
                    f"{weighted(samples, 'p99_ms'):.2f} | {sum(x['non_2xx'] + x['transport_errors'] for x in samples)} | "
                    f"{events - events_before:,} | {srv.get('rss_mib', '–')} | {srv.get('fds', '–')} | "
                    f"{srv.get('threads', '–')} | {whole(srv.get('pool_in_use'))} | {whole(srv.get('outbox_backlog'))} |")
        events_before = events
    return rows


def after_restart(ms):
    """The first publish against the restarted process's first /health answer; the relay starts
    before the HTTP listener, so it can come first."""
    if ms is None:
        return "— none found after the kill"
    if ms < 0:
        return f"{-ms} ms before the restarted process first answered /health"
    return f"{ms} ms after the restarted process first answered /health"


def whole(v):
    return "–" if v is None else f"{v:,.0f}"


def check_rows(checks):
    lines = ["| Check | Result | Figures |", "|---|---|---|"]
    for c in checks:
        figures = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in c.items()
                            if k not in ("name", "ok", "examples"))
        lines.append(f"| {c['name']} | {'**pass**' if c['ok'] else '**FAIL**'} | {figures} |")
        if not c["ok"] and c.get("examples"):
            lines.append(f"| | examples | `{json.dumps(c['examples'])[:600]}` |")
    return lines


def main():
    p = argparse.ArgumentParser()
    for name in ("machine", "capacity", "load", "checks", "kill", "out"):
        p.add_argument(f"--{name}", required=True)
    p.add_argument("--client-samples", required=True)
    p.add_argument("--server-samples", required=True)
    p.add_argument("--fraction", type=float, required=True)
    a = p.parse_args()
    machine = json.load(open(a.machine))
    cap = json.load(open(a.capacity))
    load = json.load(open(a.load))
    checks = json.load(open(a.checks))["checks"]
    kill = json.load(open(a.kill))
    client = load_jsonl(a.client_samples)
    server = load_jsonl(a.server_samples)

    minutes = load["seconds"] / 60
    warm = max(1, len(server) // 5)
    after_warmup = [(s["t_secs"], s["rss_mib"]) for s in server[warm:]]
    rss_slope = slope_per_min(after_warmup)
    # Growth that stops (caches, allocator arenas filling as data grows) shows here as ~0.
    second_half = [(s["t_secs"], s["rss_mib"]) for s in server[len(server) // 2:]]
    rss_slope_late = slope_per_min(second_half)
    first = [s for s in client if s["t_secs"] <= 60.5]
    last = [s for s in client if s["t_secs"] >= client[-1]["t_secs"] - 60.5] if client else []
    backlog = [s["outbox_backlog"] for s in server if s.get("outbox_backlog") is not None]
    verdict = all(c["ok"] for c in checks) and all(c["ok"] for c in kill["checks"])

    out = [f"# Soak: {minutes:.1f} min of taskflow on PostgreSQL — {'all integrity checks pass' if verdict else 'INTEGRITY CHECK FAILED'}", ""]
    out += [f"Run {machine.get('date', '?')} on {machine.get('nproc')} vCPU ({machine.get('cpu')}), "
            f"{machine.get('ram_gib')} GiB, {machine.get('postgres')}; commit {machine.get('commit')}; "
            f"load average before {' '.join(machine.get('load_before', []))}, after {' '.join(machine.get('load_after', []))}. "
            "The machine is shared (two cores, other builds and test runs beside this one), so absolute figures "
            "move between runs; the trends and the integrity results are what the soak is for.", ""]
    out += ["## Workload", "",
            f"- Capacity: the same mix, closed loop with {cap.get('concurrency', '?')} concurrent requests for "
            f"{cap['seconds']:.0f} s: **{cap['achieved_rate']:,.0f} req/s** ({cap['non_2xx']} non-2xx).",
            f"- Soak: {a.fraction:.0%} of that, **{load['offered_rate']:,.0f} req/s offered, {load['achieved_rate']:,.1f} achieved**, "
            f"for {load['seconds']:.0f} s over {load.get('users', 50)} users: "
            + ", ".join(f"{op} {v['count']:,}" for op, v in load["ops"].items())
            + f" — {load['requests']:,} requests, {load['non_2xx']} non-2xx, {load['transport_errors']} without an answer.",
            f"- {load['websockets']} WebSockets and {load['sse']} SSE streams (bearer token in the header), "
            f"{load['events_received']:,} events received, {load['streams_ended_early']} streams ended early; "
            f"{load['reminders']} reminders falling due between 10 % and 80 % of the run.",
            f"- Outbox drained {load['drain_secs']} s after the load stopped.", ""]
    out += ["| Operation | Count | non-2xx | p50 ms | p99 ms |", "|---|---:|---:|---:|---:|"]
    for op, v in load["ops"].items():
        out.append(f"| {op} | {v['count']:,} | {v['non_2xx'] + v['transport_errors']} | {v['p50_ms']} | {v['p99_ms']} |")
    out += ["", "## Trend lines", "",
            "| | First | Last | Trend |", "|---|---:|---:|---|"]
    if server:
        s0, s1 = server[0], server[-1]
        out.append(f"| RSS (MiB) | {s0['rss_mib']} | {s1['rss_mib']} | **{rss_slope:+.2f} MiB/min** after the first {server[warm]['t_secs']:.0f} s, **{rss_slope_late:+.2f} MiB/min** over the second half (max {max(s['rss_mib'] for s in server)}) |")
        out.append(f"| open fds | {s0['fds']} | {s1['fds']} | max {max(s['fds'] for s in server)} |")
        out.append(f"| threads | {s0['threads']} | {s1['threads']} | max {max(s['threads'] for s in server)} |")
        pool = [s.get("pool_in_use") for s in server if s.get("pool_in_use") is not None]
        if pool:
            out.append(f"| DB pool in use (of {s1.get('pool_max', '?'):.0f}) | {s0.get('pool_in_use', 0):.0f} | {s1.get('pool_in_use', 0):.0f} | max {max(pool):.0f} |")
        out.append(f"| real-time connections | {s0.get('realtime_connections', 0):.0f} | {s1.get('realtime_connections', 0):.0f} | |")
        if backlog:
            out.append(f"| outbox backlog (rows) | {backlog[0]} | {backlog[-1]} | max {max(backlog)} |")
        cpu = [s["cpu_cores"] for s in server if "cpu_cores" in s]
        if cpu:
            out.append(f"| server CPU (cores) | {cpu[0]} | {cpu[-1]} | mean {sum(cpu) / len(cpu):.2f} |")
    if first and last:
        for key, label in (("p50_ms", "p50"), ("p99_ms", "p99")):
            f, l = weighted(first, key), weighted(last, key)
            out.append(f"| latency {label} (ms), first → last minute | {f:.2f} | {l:.2f} | **{l - f:+.2f} ms ({(l / f - 1) * 100 if f else 0:+.0f} %)** |")
        out.append(f"| requests/s, first → last minute | {weighted(first, 'rps'):.0f} | {weighted(last, 'rps'):.0f} | |")
    out += ["", "Per minute (the load client's 10 s samples, weighted by requests; the server's last sample in the minute):", "",
            "| Minute | req/s | p50 ms | p99 ms | non-2xx | events received | RSS MiB | fds | threads | pool in use | outbox backlog |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    out += per_minute(client, server)
    out += ["", "## Integrity", "",
            "Checked against the database after the outbox drained (bench/soak/check.py). The checks were "
            "checked too: run again with one made-up acknowledged write and one received event removed, they "
            "reported a lost write and a missed event (otherwise the run stops before this report).", ""]
    out += check_rows(checks)
    out += ["", "## kill -9 under write load", "",
            f"- Writes (creates 60 %, updates 30 %, deletes 10 %) at {kill['rate']} req/s; the server was killed with SIGKILL "
            f"after {kill['killed_after_s']} s, restarted at once on the same database "
            f"(listening after {kill['restart_ms']} ms), and the load went on for {kill['seconds']} s in all.",
            f"- {kill['load']['requests']:,} writes sent, {kill['checks'][0]['writes_acknowledged']:,} acknowledged; "
            f"{kill['load']['transport_errors']} got no answer (in flight at the kill, or sent while the server was down), "
            f"{kill['load']['non_2xx']} non-2xx.",
            f"- Outbox rows pending at the restart: {kill.get('pending_at_restart')}.",
            f"- **First event published {after_restart(kill.get('first_publish_after_listen_ms'))}** "
            f"({kill.get('first_publish_after_kill_ms')} ms after the kill); the backlog drained {kill.get('drain_secs')} s after the load stopped.",
            ""] + check_rows(kill["checks"])
    out.append("")
    with open(a.out, "w") as f:
        f.write("\n".join(out))
    sys.exit(0 if verdict else 1)


if __name__ == "__main__":
    main()
