#!/usr/bin/env python3
"""The soak's server sampler: every --every seconds, one JSON line with the server's RSS, open file
descriptors, threads and CPU (from /proc), its database pool and real-time connections (from its
/metrics) and the outbox backlog (an SQL count of unpublished rows, the relay's own definition of
pending). Runs until bench/run stops it; the latency and events of the same moments come from the
load client's own samples.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request


def proc(pid):
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.split()
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return {
        "rss_mib": round(int(status["VmRSS"][0]) / 1024, 1),
        "threads": int(status["Threads"][0]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "cpu_ticks": int(fields[11]) + int(fields[12]),
    }


def metrics(port):
    wanted = {
        'db_pool_connections{state="in_use"}': "pool_in_use",
        'db_pool_connections{state="idle"}': "pool_idle",
        "db_pool_max_connections": "pool_max",
        "http_requests_in_flight": "in_flight",
    }
    out = {}
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return out
    realtime = 0.0
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        if name in wanted:
            out[wanted[name]] = float(value)
        elif name.startswith("realtime_connections{") or name == "realtime_connections":
            realtime += float(value)
    out["realtime_connections"] = realtime
    return out


def outbox_backlog(url):
    r = subprocess.run(
        ["psql", url, "-At", "-c", "select count(*) from outbox where published_at is null"],
        capture_output=True, text=True, timeout=20, env={**os.environ, "PGCONNECT_TIMEOUT": "5"},
    )
    return int(r.stdout.strip()) if r.returncode == 0 and r.stdout.strip().isdigit() else None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--db-url", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--every", type=float, default=10.0)
    a = p.parse_args()
    hz = os.sysconf("SC_CLK_TCK")
    start = time.monotonic()
    last_ticks, last_t = None, None
    with open(a.out, "a") as out:
        while True:
            now = time.monotonic()
            try:
                row = proc(a.pid)
            except OSError:
                print("sample.py: the server is gone", file=sys.stderr)
                return
            if last_ticks is not None:
                row["cpu_cores"] = round((row["cpu_ticks"] - last_ticks) / hz / (now - last_t), 2)
            last_ticks, last_t = row["cpu_ticks"], now
            row.update(metrics(a.port))
            row["outbox_backlog"] = outbox_backlog(a.db_url)
            row["epoch_ms"] = int(time.time() * 1000)
            row["t_secs"] = round(now - start, 1)
            out.write(json.dumps(row) + "\n")
            out.flush()
            time.sleep(max(0.0, a.every - (time.monotonic() - now)))


if __name__ == "__main__":
    main()
