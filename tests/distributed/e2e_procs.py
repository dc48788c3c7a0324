"""Processes for the five-service end-to-end test: start, stop, kill -9, restart, log tails.

Every process is started directly (no shell), in its own session, with stdout and stderr appended
to one log file; the manager remembers each one so that `stop_all()` can always end them, whatever
happened. Only processes this module started are ever signalled, and only by their own pid.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port(taken: set[int]) -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now and that `taken` does not hold yet."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in taken:
            taken.add(port)
            return port


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 3.0) -> tuple[int, bytes]:
    """(status, body) of a GET; status 0 when nothing answered."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def get_json(url: str, timeout: float = 5.0):
    status, body = http_get(url, timeout=timeout)
    if status != 200:
        raise RuntimeError(f"GET {url}: HTTP {status} {body[:300]!r}")
    return json.loads(body)


class Proc:
    """One child process and its log file; can be started again after it stopped."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path, cwd: Path):
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.cwd = cwd
        self.popen: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        if self.alive():
            raise RuntimeError(f"{self.name} is already running (pid {self.popen.pid})")
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== e2e: start #{self.starts} of {self.name} at {time.strftime('%H:%M:%S')}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches only the runner
            )

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def exit_code(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def _note(self, text: str) -> None:
        with open(self.log_path, "ab") as log:
            log.write(f"===== e2e: {text} at {time.strftime('%H:%M:%S')}\n".encode())

    def terminate(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL if it is still running after `timeout`; returns the exit code."""
        if not self.alive():
            return self.exit_code()
        self._note(f"SIGTERM to pid {self.popen.pid}")
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._note(f"still running {timeout:.0f} s after SIGTERM: SIGKILL")
            self.popen.kill()
            return self.popen.wait(timeout=10)

    def kill9(self) -> None:
        if self.alive():
            self._note(f"SIGKILL (kill -9) to pid {self.popen.pid}")
            self.popen.kill()
            self.popen.wait(timeout=10)

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as e:
            return f"(no log: {e})"
        return "\n".join(text.splitlines()[-lines:])


class ProcessManager:
    """Every process of the run, so that all of them are ended at the end."""

    def __init__(self, log_dir: Path, cwd: Path):
        self.log_dir = log_dir
        self.cwd = cwd
        self.procs: list[Proc] = []

    def add(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        proc = Proc(name, argv, env, self.log_dir / f"{name}.log", self.cwd)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        running = [p for p in self.procs if p.alive()]
        for p in running:
            p._note(f"cleanup: SIGTERM to pid {p.popen.pid}")
            p.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p in running:
            try:
                p.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p._note("cleanup: still running after SIGTERM: SIGKILL")
                p.popen.kill()
                p.popen.wait(timeout=10)

    def print_tails(self, lines: int = 40) -> None:
        for p in self.procs:
            state = "running" if p.alive() else f"exited {p.exit_code()}"
            print(f"\n----- {p.name} ({state}), last {lines} lines of {p.log_path}", flush=True)
            print(p.tail(lines), flush=True)


def wait_until(predicate, timeout: float, interval: float = 0.25, what: str = "condition"):
    """Polls `predicate` until it returns something truthy; raises TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def wait_http_ok(url: str, timeout: float, proc: Proc | None = None, what: str | None = None) -> None:
    """Waits for `GET url` to answer 2xx; fails at once if `proc` exits meanwhile."""
    last: list[object] = [None]

    def ok() -> bool:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.exit_code()} before {url} answered")
        status, body = http_get(url)
        last[0] = (status, body[:300])
        return 200 <= status < 300

    try:
        wait_until(ok, timeout, interval=0.2, what=what or f"GET {url} to answer 2xx")
    except TimeoutError as e:
        raise TimeoutError(f"{e}; last answer: {last[0]}") from None


def env_with(base: dict[str, str], **extra: str) -> dict[str, str]:
    env = dict(base)
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


def clean_env() -> dict[str, str]:
    """The runner's environment without anything that would point a service elsewhere."""
    drop = {
        "DATABASE_URL", "REDIS_URL", "TEST_DATABASE_URL", "TEST_REDIS_URL", "JWT_SECRET", "PORT", "HOST",
        "DAPR_HTTP_PORT", "DAPR_HOST", "DAPR_API_TOKEN", "APP_API_TOKEN", "DAPR_PUBSUB_NAME",
        "DAPR_STATE_STORE", "POD_NAME", "NAMESPACE", "SMTP_URL", "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "JWKS_URL", "OPENAI_API_KEY",
    }
    return {k: v for k, v in os.environ.items() if k not in drop}
