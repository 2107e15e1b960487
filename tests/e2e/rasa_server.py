"""The real product on loopback for end-to-end tests: ``rasa run`` (our connectors, the
trained model) and, when asked, ``rasa run actions``, pointed at a fake Graph API."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
APP_SECRET = "e2e-app-secret"
VERIFY_TOKEN = "e2e-verify-token"
PAGE_TOKEN = "e2e-page-token"
INSTAGRAM_TOKEN = "e2e-instagram-token"
APP_ID = "e2e-app"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def require_trained_model() -> None:
    if list((ROOT / "models").glob("*.tar.gz")):
        return
    message = "no trained model in models/: `make test` trains one before the suite"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def product_environment(graph_url: str, database_url: str, action_port: int, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RASA_TELEMETRY_ENABLED="false",
        PYTHONPATH=str(ROOT),
        META_APP_SECRET=APP_SECRET,
        INSTAGRAM_APP_SECRET=APP_SECRET,
        META_VERIFY_TOKEN=VERIFY_TOKEN,
        MESSENGER_PAGE_ACCESS_TOKEN=PAGE_TOKEN,
        INSTAGRAM_ACCESS_TOKEN=INSTAGRAM_TOKEN,
        META_APP_ID=APP_ID,
        META_GRAPH_URL=graph_url,
        INSTAGRAM_GRAPH_URL=graph_url,
        META_GRAPH_VERSION="v21.0",
        ACTION_SERVER_URL=f"http://127.0.0.1:{action_port}/webhook",
        HANDOFF_DATABASE_URL=database_url,
        # credentials.yml names these (Rasa refuses unset ones); the desk makes a random
        # session secret when it is empty.
        HANDOFF_SERVICE_TOKEN=os.environ.get("HANDOFF_SERVICE_TOKEN") or "e2e-service-token",
        HANDOFF_SESSION_SECRET=os.environ.get("HANDOFF_SESSION_SECRET", ""),
    )
    env.update(extra)
    return env


class Product:
    """Starts the servers as subprocesses; ``stop()`` ends them."""

    def __init__(self, env: Mapping[str, str], log_dir: Path, with_actions: bool = False) -> None:
        self.rasa_port = free_port()
        self.action_port = int(env["ACTION_SERVER_URL"].split(":")[2].split("/")[0])
        self.url = f"http://127.0.0.1:{self.rasa_port}"
        self._env = dict(env)
        self._log_dir = log_dir
        self._with_actions = with_actions
        self._processes: list[subprocess.Popen[bytes]] = []

    def start(self, timeout: float = 120.0) -> Product:
        if self._with_actions:
            self._spawn("actions", [str(BIN / "rasa"), "run", "actions", "--port", str(self.action_port), "--actions", "actions"])
        self._spawn(
            "rasa",
            [
                str(BIN / "rasa"),
                "run",
                "--port",
                str(self.rasa_port),
                "--credentials",
                "credentials.yml",
                "--endpoints",
                "endpoints.yml",
                "--model",
                "models",
                *(["--debug"] if os.environ.get("E2E_RASA_DEBUG") else []),
            ],
        )
        self._wait_until_up(f"{self.url}/webhooks/messenger/", timeout)
        if self._with_actions:
            self._wait_until_up(f"http://127.0.0.1:{self.action_port}/health", timeout)
        return self

    def stop(self) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        self._processes.clear()

    def log(self, name: str) -> str:
        return (self._log_dir / f"{name}.log").read_text(errors="replace")

    def _spawn(self, name: str, command: list[str]) -> None:
        with open(self._log_dir / f"{name}.log", "wb") as log:  # the child keeps its own copy
            self._processes.append(subprocess.Popen(command, cwd=ROOT, env=self._env, stdout=log, stderr=subprocess.STDOUT))

    def _wait_until_up(self, url: str, timeout: float) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self._processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a server exited early:\n{self.log('rasa')[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"{url} did not come up in {timeout}s:\n{self.log('rasa')[-3000:]}")
