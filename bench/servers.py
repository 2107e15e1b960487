"""Servers under test, started as subprocesses on 127.0.0.1, and what we read of them.

``rasa_run`` starts the real ``rasa run`` (our connectors from ``credentials.yml``, or
Rasa's built-in ``facebook`` channel from ``bench/credentials-facebook.yml``) with the
trained model; ``python_server`` starts one of the bench's own small servers. Each
``ServerProcess`` knows its whole process tree, so resident memory and CPU time can be
read from ``/proc`` for every Sanic worker, and ``stop()`` ends exactly the processes it
started (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
BIN = Path(sys.executable).parent
MODEL = ROOT / "models" / "bot.tar.gz"
FB_SHIM = BENCH / "fb_shim"

# Credentials of the product under test (values only exist on loopback).
APP_SECRET = "bench-app-secret"
VERIFY_TOKEN = "bench-verify-token"
PAGE_TOKEN = "bench-page-token"
INSTAGRAM_TOKEN = "bench-instagram-token"
APP_ID = "bench-app"
SERVICE_TOKEN = "bench-service-token"
PAGE_ID = "100000000000001"

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A free ephemeral port on loopback (bound and released at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def base_env(**extra: str) -> dict[str, str]:
    """The environment of every subprocess: telemetry off, the project importable."""
    env = dict(os.environ)
    env.update(
        RASA_TELEMETRY_ENABLED="false",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        # TensorFlow would otherwise start as many threads as cores in every process.
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    env.pop("SANIC_WORKERS", None)
    env.update(extra)
    return env


def product_env(graph_url: str, database_url: str, **extra: str) -> dict[str, str]:
    """The product's environment as ``scripts/meta-env.sh`` makes it (sourced, so variables
    the product adds later get their defaults), with the bench's credentials, pointed at
    the fake Graph API."""
    preset = base_env(
        META_APP_SECRET=APP_SECRET,
        INSTAGRAM_APP_SECRET=APP_SECRET,
        META_VERIFY_TOKEN=VERIFY_TOKEN,
        MESSENGER_PAGE_ACCESS_TOKEN=PAGE_TOKEN,
        INSTAGRAM_ACCESS_TOKEN=INSTAGRAM_TOKEN,
        META_APP_ID=APP_ID,
        META_GRAPH_URL=graph_url,
        INSTAGRAM_GRAPH_URL=graph_url,
        META_GRAPH_VERSION="v21.0",
        # No action server runs unless a part starts one: the bench's bot messages only
        # hit rules with responses.
        ACTION_SERVER_URL=f"http://127.0.0.1:{free_port()}/webhook",
        HANDOFF_DATABASE_URL=database_url,
        HANDOFF_SERVICE_TOKEN=SERVICE_TOKEN,
        **extra,
    )
    script = "set -a; source scripts/meta-env.sh >/dev/null; env -0"
    result = subprocess.run(["bash", "-c", script], cwd=ROOT, env=preset, capture_output=True, check=True)
    env = dict(entry.split("=", 1) for entry in result.stdout.decode().split("\0") if "=" in entry)
    env.update({key: value for key, value in preset.items() if key in extra})
    env["RASA_TELEMETRY_ENABLED"] = "false"
    return env


def facebook_env(graph_url: str, **extra: str) -> dict[str, str]:
    """Rasa's built-in channel, with fbmessenger's Graph URL moved by ``bench/fb_shim``."""
    env = base_env(
        ACTION_SERVER_URL=f"http://127.0.0.1:{free_port()}/webhook",
        BENCH_FB_GRAPH_URL=graph_url,
        # endpoints.yml names it (the actions' credential for the service API): Rasa refuses
        # to start without it, though the built-in channel never calls the service API.
        HANDOFF_SERVICE_TOKEN=secrets.token_urlsafe(24),
        **extra,
    )
    env["PYTHONPATH"] = f"{FB_SHIM}{os.pathsep}{ROOT}"
    return env


class ServerProcess:
    def __init__(self, name: str, command: Sequence[str], env: Mapping[str, str], log_dir: Path, port: int) -> None:
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_dir / f"{name}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        # The child writes to its own copy of the descriptor: ours can close at once.
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                list(command), cwd=ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started_at = time.monotonic()
        self.ready_after: float | None = None

    def wait_ready(self, path: str, timeout: float = 600.0) -> ServerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early (code {self.process.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as response:
                    if response.status == 200:
                        self.ready_after = time.monotonic() - self.started_at
                        return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise TimeoutError(f"{self.name}: {path} not up after {timeout}s:\n{self.log_tail()}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_text()[-chars:]

    # -- /proc ---------------------------------------------------------------------------

    def pids(self) -> list[int]:
        """The server process and all its descendants (Sanic workers are children)."""
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
        found, stack = [], [self.process.pid]
        while stack:
            pid = stack.pop()
            found.append(pid)
            stack.extend(children.get(pid, []))
        return found

    def rss_bytes(self) -> dict[int, int]:
        """Resident memory of each process of the tree (VmRSS, bytes)."""
        sizes = {}
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/statm") as statm:
                    sizes[pid] = int(statm.read().split()[1]) * _PAGE_SIZE
            except (OSError, IndexError, ValueError):
                continue
        return sizes

    def cpu_by_pid(self) -> dict[int, float]:
        """User + system CPU seconds of each process of the tree so far."""
        times = {}
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
                times[pid] = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
            except (OSError, IndexError, ValueError):
                continue
        return times

    def cpu_seconds(self) -> float:
        """User + system CPU time of the whole tree so far."""
        return sum(self.cpu_by_pid().values())

    def main_thread_cpu(self) -> float:
        """User + system CPU seconds of the server's main thread, the one its event loop runs
        on (all its Python, under the GIL); NaN when it cannot be read."""
        pid = self.process.pid
        try:
            with open(f"/proc/{pid}/task/{pid}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
        except (OSError, IndexError, ValueError):
            return math.nan

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM to the process group this server leads, SIGKILL after ``grace``."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Workers left behind by a killed parent belong to the same group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


def rasa_run(
    name: str,
    env: Mapping[str, str],
    log_dir: Path,
    *,
    credentials: Path,
    endpoints: Path,
    ready_path: str,
) -> ServerProcess:
    """``rasa run`` on a free loopback port with the trained model; waits until it answers."""
    port = free_port()
    command = [
        str(BIN / "rasa"),
        "run",
        "--interface",
        "127.0.0.1",
        "--port",
        str(port),
        "--credentials",
        str(credentials),
        "--endpoints",
        str(endpoints),
        "--model",
        str(MODEL),
    ]
    return ServerProcess(name, command, env, log_dir, port).wait_ready(ready_path)


def python_server(
    name: str, module: str, args: Sequence[str], env: Mapping[str, str], log_dir: Path, ready_path: str
) -> ServerProcess:
    port = free_port()
    command = [sys.executable, "-m", module, "--port", str(port), *args]
    return ServerProcess(name, command, env, log_dir, port).wait_ready(ready_path, timeout=60)
