"""Start the real `callboard` command in a subprocess for end-to-end tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CALLBOARD = [sys.executable, "-m", "web.cli"]
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``callboard ARGS`` to completion."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBOARD_")}
    full_env.update(env or {})
    return subprocess.run(
        [*CALLBOARD, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=ROOT,
        check=False,
    )


@dataclass
class Server:
    """A running `callboard` process."""

    proc: subprocess.Popen[str]
    url: str
    log_path: Path

    def post_json(
        self,
        path: str,
        body: dict[str, object],
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, object], dict[str, str]]:
        """POST JSON; return status, body and response headers."""
        req = urllib.request.Request(
            self.url + path.lstrip("/"),
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read()), dict(resp.headers)
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read()), dict(err.headers)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, object]:
        """GET; return status and JSON body."""
        req = urllib.request.Request(self.url + path.lstrip("/"), headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def admin_token(self, password: str = "demo") -> str:
        """Sign in as admin and create an API token."""
        status, body, headers = self.post_json(
            "/api/auth/login", {"username": "admin", "password": password}
        )
        assert status == 200, body
        cookie = headers["Set-Cookie"].split(";", 1)[0]
        status, body, _ = self.post_json(
            "/api/tokens",
            {"name": "test"},
            headers={"Cookie": cookie, "X-CSRF-Token": str(body["csrf_token"])},
        )
        assert status == 201, body
        return str(body["token"])

    def log_tail(self) -> str:
        """What the process has written so far."""
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def running_server(tmp_path: Path, *args: str, timeout: float = 60) -> Iterator[Server]:
    """Run `callboard demo` on a free port in ``tmp_path``; stop it with SIGTERM after."""
    port = free_port()
    log_path = tmp_path / "server.log"
    cmd = [*CALLBOARD, "demo", "--data-dir", str(tmp_path / "data"), "--port", str(port), *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBOARD_")}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=ROOT
        )
        try:
            assert proc.stdout is not None
            # Wait for the banner line rather than a fixed time.
            line = proc.stdout.readline()
            while line and "running at" not in line:
                line = proc.stdout.readline()
            if not line:
                proc.wait(timeout=timeout)
                raise AssertionError(f"demo did not start: {log_path.read_text()}")
            yield Server(proc, f"http://127.0.0.1:{port}/", log_path)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
