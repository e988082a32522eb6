"""Who may reach the web page: loopback by default, a login elsewhere, failed logins slowed.

No server and no gradio here: the checks are plain functions and a callable that Gradio
calls once per login attempt (tests/test_app.py shows Gradio using it). The lockout runs
on an injected clock, so no test sleeps.
"""

from __future__ import annotations

import pytest

from rag.settings import Settings
from ui.access import LoginThrottle, check_exposure
from ui.app import serve
from ui.errors import UIError
from ui.hosts import is_loopback
from ui.cli import main


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_hosts(host):
    assert is_loopback(host)
    check_exposure(host, None)  # no login needed


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.org"])
def test_other_hosts_need_a_login_or_insecure(host, caplog):
    assert not is_loopback(host)
    with pytest.raises(UIError) as info:
        check_exposure(host, None)
    message = str(info.value)
    assert "refusing" in message and "RAG_AUTH" in message and "--insecure" in message and "\n" not in message
    check_exposure(host, ("ann", "secret"))
    check_exposure(host, None, insecure=True)
    assert "--insecure" in caplog.text


def test_serve_refuses_before_loading_anything(monkeypatch, tmp_path):
    monkeypatch.delenv("RAG_AUTH", raising=False)
    made = []
    # Refusing must come first: the assistant the CLI wired is never created.
    with pytest.raises(UIError, match="refusing to serve on 0.0.0.0"):
        serve(Settings(host="0.0.0.0", index_dir=str(tmp_path / "none")), lambda: made.append("assistant"))
    assert made == []


@pytest.mark.parametrize(("auth", "insecure"), [(("ann", "secret"), False), (None, True)])
def test_a_page_served_beyond_loopback_is_warned_about_once(caplog, auth, insecure):
    check_exposure("0.0.0.0", auth, insecure)
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "0.0.0.0" in warnings[0].getMessage()
    assert ("without a login" in warnings[0].getMessage()) == insecure


def test_rag_serve_on_all_interfaces_without_a_login_is_one_line_and_exit_1(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("RAG_AUTH", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--index-dir", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: refusing to serve on 0.0.0.0") and err.count("\n") == 1


def test_right_login_passes_and_wrong_ones_fail():
    check = LoginThrottle("ann", "s3cret", clock=Clock())
    assert check("ann", "s3cret")
    assert not check("ann", "wrong") and not check("bob", "s3cret") and not check("", "")


def test_failed_logins_lock_the_name_out_for_longer_each_time():
    clock = Clock()
    check = LoginThrottle("ann", "s3cret", free_failures=3, base_lockout_s=2, max_lockout_s=60, clock=clock)
    for _ in range(2):
        assert not check("ann", "guess")
    assert check.locked_for("ann") == 0
    assert not check("ann", "guess")  # the third failure starts a lockout
    assert check.locked_for("ann") == 2
    # During the lockout even the right password is refused: guessing cannot continue.
    assert not check("ann", "s3cret")
    clock.now += 2
    assert not check("ann", "guess again")  # the fourth failure doubles it
    assert check.locked_for("ann") == 4
    clock.now += 4
    assert check("ann", "s3cret")  # a success clears the count
    assert not check("ann", "typo") and check.locked_for("ann") == 0


def test_fifty_quick_guesses_are_mostly_refused_unchecked():
    clock = Clock()
    check = LoginThrottle("ann", "s3cret", clock=clock)
    results = []
    for i in range(50):
        results.append(check("ann", f"guess-{i}"))
        clock.now += 0.008  # 50 tries in 0.4 s, as in the report
    assert not any(results)
    assert check.locked_for("ann") > 0
    # Refused guesses are not checked, so they do not stretch the lockout: once the first
    # lockout has passed, the owner gets in.
    clock.now = 1000.0 + check.base_lockout_s + 0.05
    assert check("ann", "s3cret")


def test_lockout_doubling_stops_at_the_maximum():
    clock = Clock()
    check = LoginThrottle("ann", "pw", free_failures=1, base_lockout_s=1, max_lockout_s=8, clock=clock)
    for _ in range(10):
        check("ann", "x")
        clock.now += check.locked_for("ann")
    check("ann", "x")
    assert check.locked_for("ann") == 8


def test_made_up_names_do_not_lock_out_the_real_one():
    clock = Clock()
    check = LoginThrottle("ann", "s3cret", free_failures=2, clock=clock)
    for i in range(20):
        check(f"user{i}", "x")
    assert check.locked_for("mallory") > 0
    assert check("ann", "s3cret")
