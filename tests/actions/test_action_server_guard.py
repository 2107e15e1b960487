"""The action server as operators start it (`rasa run actions --actions actions`) accepts
only calls carrying the Rasa server's secret, only JSON bodies, and only on loopback."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.rasa_server import free_port

ROOT = Path(__file__).resolve().parents[2]
RASA = Path(sys.executable).parent / "rasa"
SECRET = "guard-test-secret"

# An action call as Rasa makes it; the action does not exist, so passing the guard is a 404
# from rasa-sdk and never touches the handoff service.
CALL = json.dumps(
    {
        "next_action": "action_that_does_not_exist",
        "sender_id": "psid-1",
        "version": "3.6.21",
        "tracker": {"sender_id": "psid-1", "slots": {}, "events": [], "latest_message": {}},
        "domain": {},
    }
).encode()


class ActionServer:
    def __init__(self, tmp_path: Path, **env: str | None) -> None:
        self.port = free_port()
        self.url = f"http://{env.get('SANIC_HOST') or '127.0.0.1'}:{self.port}"
        environment = {
            key: value
            for key, value in os.environ.items()
            if key not in ("HANDOFF_ACTION_TOKEN", "HANDOFF_SERVICE_TOKEN", "SANIC_HOST")
        }
        environment.update({key: value for key, value in env.items() if value is not None})
        environment.update(RASA_TELEMETRY_ENABLED="false", PYTHONPATH=str(ROOT))
        self.log_path = tmp_path / f"actions-{self.port}.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(RASA), "run", "actions", "--port", str(self.port), "--actions", "actions"],
                cwd=ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                urllib.request.urlopen(f"{self.url}/health", timeout=1).close()
                return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(self.log())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def call(self, path: str, body: bytes | None = None, content_type: str = "application/json", token: str | None = None) -> int:
        """The status of a POST with ``body``, or of a GET without one."""
        headers = {"Content-Type": content_type} if body is not None else {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(f"{self.url}{path}", data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code


@pytest.fixture(scope="module")
def guarded(tmp_path_factory) -> Iterator[ActionServer]:
    server = ActionServer(tmp_path_factory.mktemp("guarded"), HANDOFF_SERVICE_TOKEN=SECRET)
    yield server
    server.stop()


def test_the_rasa_servers_call_with_the_secret_reaches_the_actions(guarded):
    assert guarded.call("/webhook", CALL, token=SECRET) == 404  # rasa-sdk's "no such action"
    assert guarded.call("/actions", token=SECRET) == 200


@pytest.mark.parametrize("token", [None, "", "wrong", SECRET + "x", SECRET[:-1]])
def test_a_call_without_the_secret_is_401(guarded, token):
    assert guarded.call("/webhook", CALL, token=token) == 401
    assert guarded.call("/actions", token=token) == 401


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
def test_a_body_that_is_not_json_is_415_even_with_the_secret(guarded, content_type):
    assert guarded.call("/webhook", CALL, content_type=content_type, token=SECRET) == 415


def test_a_cross_site_simple_post_is_refused(guarded):
    # What a web page an agent visits can send without a preflight: text/plain, no header.
    assert guarded.call("/webhook", CALL, content_type="text/plain") == 401


def test_health_needs_no_secret(guarded):
    assert guarded.call("/health") == 200


def test_it_listens_on_loopback_only(guarded):
    assert re.search(rf"running on http://127\.0\.0\.1:{guarded.port}", guarded.log()), guarded.log()
    # Every 127/8 address is this machine: a server on all addresses would accept here too.
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.settimeout(5)
        probe.connect(("127.0.0.2", guarded.port))


def test_a_separate_action_secret_replaces_the_service_token(tmp_path):
    server = ActionServer(tmp_path, HANDOFF_SERVICE_TOKEN=SECRET, HANDOFF_ACTION_TOKEN="separate-secret")
    try:
        assert server.call("/webhook", CALL, token="separate-secret") == 404
        assert server.call("/webhook", CALL, token=SECRET) == 401
    finally:
        server.stop()


def test_without_any_secret_every_call_is_refused(tmp_path):
    server = ActionServer(tmp_path)
    try:
        assert server.call("/webhook", CALL, token="") == 401
        assert server.call("/webhook", CALL, token="anything") == 401
        assert "refuses every call" in server.log()
    finally:
        server.stop()


def test_the_operator_can_choose_the_address(tmp_path):
    server = ActionServer(tmp_path, HANDOFF_SERVICE_TOKEN=SECRET, SANIC_HOST="127.0.0.2")
    try:
        assert f"running on http://127.0.0.2:{server.port}" in server.log()
    finally:
        server.stop()
