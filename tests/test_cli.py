"""The `callboard` command as a user runs it: help, migrate, create-user, serve, demo."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.cli_helpers import CALLBOARD, ROOT, free_port, run_cli, running_server

SECRET = "cli-test-secret-0123456789abcdefghijklmnop"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "CALLBOARD_DATABASE_URL": f"sqlite:///{tmp_path / 'cb.db'}",
        "CALLBOARD_SECRET_KEY": SECRET,
    }
    env.update(extra)
    return env


def test_help_documents_every_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("demo", "serve", "migrate", "create-user"):
        assert command in result.stdout
        sub = run_cli(command, "--help")
        assert sub.returncode == 0, sub.stderr
        assert "usage: callboard" in sub.stdout


def test_migrate_then_up_to_date(tmp_path: Path) -> None:
    first = run_cli("migrate", env=_env(tmp_path))
    assert first.returncode == 0, first.stderr
    assert "migrated from empty to" in first.stdout
    second = run_cli("migrate", env=_env(tmp_path))
    assert "is up to date" in second.stdout


def test_serve_refuses_unmigrated_database(tmp_path: Path) -> None:
    result = run_cli("serve", "--port", str(free_port()), env=_env(tmp_path))
    assert result.returncode == 2
    assert "has no Callboard schema; run `callboard migrate` first" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_settings_name_every_key(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        CALLBOARD_HTTP_PORT="99999",
        CALLBOARD_DEFAULT_REGION="XX",
        CALLBOARD_DATABSE_URL="typo",
    )
    result = run_cli("serve", env=env)
    assert result.returncode == 2
    err = result.stderr
    assert "http_port (CALLBOARD_HTTP_PORT)" in err
    assert "default_region (CALLBOARD_DEFAULT_REGION)" in err
    assert "CALLBOARD_DATABSE_URL: unknown setting" in err
    assert "Traceback" not in err


def test_config_file_and_missing_secret(tmp_path: Path) -> None:
    cfg = tmp_path / "callboard.toml"
    cfg.write_text(f'database_url = "sqlite:///{tmp_path / "x.db"}"\n')
    result = run_cli("--config", str(cfg), "serve")
    assert result.returncode == 2
    assert "secret_key (CALLBOARD_SECRET_KEY): is required" in result.stderr
    missing = run_cli("--config", str(tmp_path / "nope.toml"), "migrate")
    assert missing.returncode == 2
    assert "nope.toml: not found" in missing.stderr


def test_unreachable_database_says_where(tmp_path: Path) -> None:
    env = _env(tmp_path, CALLBOARD_DATABASE_URL="postgresql://cb:pw-hidden@127.0.0.1:1/callboard")
    result = run_cli("migrate", env=env)
    assert result.returncode == 2
    assert "database at postgresql+asyncpg://cb:***@127.0.0.1:1/callboard is unreachable" in (
        result.stderr
    )
    assert "pw-hidden" not in result.stderr


def test_unreachable_redis_says_where(tmp_path: Path) -> None:
    assert run_cli("migrate", env=_env(tmp_path)).returncode == 0
    env = _env(tmp_path, CALLBOARD_REDIS_URL="redis://:pw-hidden@127.0.0.1:1/0")
    result = run_cli("serve", "--port", str(free_port()), env=env)
    assert result.returncode == 2
    assert "Redis at redis://:***@127.0.0.1:1/0 is unreachable" in result.stderr
    assert "pw-hidden" not in result.stderr


def test_create_user_from_stdin(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert run_cli("migrate", env=env).returncode == 0
    result = run_cli(
        "create-user",
        "ops",
        "--role",
        "admin",
        "--role",
        "supervisor",
        "--password-stdin",
        env=env,
        stdin="correct horse\n",
    )
    assert result.returncode == 0, result.stderr
    assert "created user ops" in result.stdout
    assert "admin, supervisor" in result.stdout
    again = run_cli("create-user", "OPS", "--password-stdin", env=env, stdin="another pw\n")
    assert again.returncode == 2
    assert "username 'ops' is taken" in again.stderr
    no_tty = run_cli("create-user", "x", env=env, stdin="")
    assert no_tty.returncode == 2
    assert "--password-stdin" in no_tty.stderr


def test_demo_serves_health_and_login(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        status, body = server.get("/healthz")
        assert (status, body) == (200, {"status": "ok"})
        status, login, headers = server.post_json(
            "/api/auth/login", {"username": "admin", "password": "demo"}
        )
        assert status == 200, login
        cookie = headers["Set-Cookie"].split(";", 1)[0]
        status, me = server.get("/api/me", headers={"Cookie": cookie})
        assert status == 200
        assert isinstance(me, dict)
        assert me["username"] == "admin"
        for user in ("supervisor", "manager", "agent1", "agent5"):
            status, _, _ = server.post_json(
                "/api/auth/login", {"username": user, "password": "demo"}
            )
            assert status == 200, user
    assert (tmp_path / "data" / "callboard.db").exists()
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o077 == 0


def test_demo_password_option(tmp_path: Path) -> None:
    with running_server(tmp_path, "--password", "s3cret!") as server:
        status, _, _ = server.post_json(
            "/api/auth/login", {"username": "agent1", "password": "demo"}
        )
        assert status == 401
        status, _, _ = server.post_json(
            "/api/auth/login", {"username": "agent1", "password": "s3cret!"}
        )
        assert status == 200


@pytest.mark.postgres
def test_serve_on_postgres_and_redis_then_stop_gracefully(
    pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        "CALLBOARD_DATABASE_URL": pg_url,
        "CALLBOARD_REDIS_URL": redis_url,
        "CALLBOARD_REDIS_PREFIX": f"cbtest:cli{port}:",
        "CALLBOARD_SECRET_KEY": SECRET,
        "CALLBOARD_HTTP_PORT": str(port),
    }
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CALLBOARD_")} | env
    proc = subprocess.Popen(
        [*CALLBOARD, "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"serving on http://127.0.0.1:{port}/" in line, (
            proc.stderr.read() if proc.stderr else ""
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as resp:
            body = json.loads(resp.read())
        assert body["checks"]["database"] == {
            **body["checks"]["database"],
            "status": "ok",
            "detail": "postgresql",
        }
        assert body["checks"]["redis"]["status"] == "ok"
        assert body["checks"]["event_bus"]["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        err = proc.stderr.read() if proc.stderr else ""
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    assert code == 0, err
    assert "shutting down" in err
    assert SECRET not in err


def test_module_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "web.cli", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0


def test_bench_ami_prints_its_figures() -> None:
    shared = Path(__file__).resolve().parents[2] / "shared" / "ami-traces"
    result = run_cli(
        "bench", "ami", "--copies", "2", "--rounds", "1", "--traces", str(shared), timeout=300
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(figures) == {
        "events",
        "events_per_s",
        "baseline_events_per_s",
        "ratio",
        "ratio_min",
        "ratio_max",
        "peak_rss_mb",
        "concurrent_calls",
        "rounds",
    }
    assert figures["events"] == 2 * 1970
    assert figures["concurrent_calls"] == 40
    assert figures["events_per_s"] > 0
    assert figures["baseline_events_per_s"] > 0
    assert figures["ratio_min"] <= figures["ratio"] <= figures["ratio_max"]


def test_demo_has_crm_contacts_that_call_in(tmp_path: Path) -> None:
    with running_server(tmp_path, "--calls-per-minute", "0") as server:
        status, _, headers = server.post_json(
            "/api/auth/login", {"username": "admin", "password": "demo"}
        )
        assert status == 200
        cookie = {"Cookie": headers["Set-Cookie"].split(";", 1)[0]}
        status, found = server.get("/api/lookup/phone?number=%2B302101234567", headers=cookie)
        assert status == 200, found
        assert isinstance(found, dict)
        names = [c["display_name"] for c in found["candidates"]]
        assert any("Παπαδοπούλου" in n for n in names), found
        status, companies = server.get("/api/companies", headers=cookie)
        assert isinstance(companies, dict)
        assert companies["total"] == 4
    # A second start does not load the demo data twice.
    with running_server(tmp_path, "--calls-per-minute", "0") as server:
        status, _, headers = server.post_json(
            "/api/auth/login", {"username": "admin", "password": "demo"}
        )
        cookie = {"Cookie": headers["Set-Cookie"].split(";", 1)[0]}
        status, companies = server.get("/api/companies", headers=cookie)
        assert isinstance(companies, dict)
        assert companies["total"] == 4
