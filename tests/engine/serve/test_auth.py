"""Who may use the server: the token policy, and a real server bound off loopback refusing a missing or wrong
token."""

from __future__ import annotations

import stat

import httpx
import pytest

from engine.protocol import EngineUnavailable
from engine.serve.auth import authorized, is_loopback, read_token, token_policy


@pytest.mark.parametrize("host, loop", [("127.0.0.1", True), ("127.0.0.2", True), ("::1", True),
                                        ("localhost", True), ("0.0.0.0", False), ("192.168.1.5", False),
                                        ("::", False), ("gpu-box.local", False)])
def test_loopback(host, loop):
    assert is_loopback(host) is loop


def test_policy_loopback_needs_no_token_and_others_get_a_saved_one(tmp_path):
    saved = tmp_path / "cfg" / "serve-token"
    assert token_policy("127.0.0.1", None, saved) == (None, False)
    token, created = token_policy("0.0.0.0", None, saved)
    assert created and len(token) >= 32 and stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert token_policy("0.0.0.0", None, saved) == (token, False)  # the next start reuses it
    given = tmp_path / "token"
    given.write_text("s3cret\n")
    assert token_policy("127.0.0.1", given, saved) == ("s3cret", False)  # a given token is always required
    given.write_text("  \n")
    with pytest.raises(ValueError, match="is empty"):
        read_token(given)


def test_authorized_compares_the_whole_bearer_token():
    assert authorized(None, None)
    assert authorized("Bearer abc", "abc")
    assert not authorized(None, "abc")
    assert not authorized("Bearer ab", "abc")
    assert not authorized("abc", "abc")
    assert not authorized("Basic abc", "abc")


def test_server_off_loopback_refuses_missing_and_wrong_tokens(bundled_engine, tmp_path):
    from engine.remote import RemoteEngine
    from engine.serve import ServerThread
    from engine.serve.app import create_app

    token, created = token_policy("0.0.0.0", None, tmp_path / "serve-token")
    assert created
    with ServerThread(create_app(bundled_engine, token=token), host="0.0.0.0") as s:
        url = f"http://127.0.0.1:{s.port}"
        assert httpx.get(f"{url}/health").status_code == 200  # health is open (load balancers)
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
            r = httpx.post(f"{url}/v1/score", json={"text": "a"}, headers=headers)
            assert r.status_code == 401 and "bearer token" in r.json()["error"]
            assert r.headers["www-authenticate"] == "Bearer"
        assert httpx.get(f"{url}/metrics").status_code == 401
        with pytest.raises(EngineUnavailable, match="refused the token"):
            RemoteEngine(url, token="wrong").info()
        good = RemoteEngine(url, token=token)
        assert good.score("Soil.") > 0
        assert good.info().model == bundled_engine.info().model
