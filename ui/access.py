"""Who may reach the page: loopback by default, a login (``RAG_AUTH``) elsewhere, failed
logins slowed; and the one warning when the page is served beyond this machine."""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable

from ui.errors import UIError
from ui.hosts import is_loopback

log = logging.getLogger(__name__)

AUTH_ENV = "RAG_AUTH"

def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``"user:password"`` (RAG_AUTH) -> ``("user", "password")``; empty -> None."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise UIError(f"{AUTH_ENV} must look like user:password")
    return user, password


def check_exposure(host: str, auth: tuple[str, str] | None, insecure: bool = False) -> None:
    """Refuse to serve ``host`` to other machines without a login, unless ``insecure``.

    On any address but loopback, the page and its ``/ask`` API answer whoever reaches the
    port; a warning in a log nobody reads did not stop that, so it takes a login or an
    explicit ``--insecure``. A page served beyond loopback is warned about here, once.
    """
    if is_loopback(host):
        return
    if auth is not None:
        log.warning("serving on %s: the page is reachable from other machines (login required)", host)
        return
    if not insecure:
        raise UIError(
            f"refusing to serve on {host} without a login: anyone who can reach it could use it. "
            f"Set {AUTH_ENV}=user:password, or pass --insecure to serve it open anyway"
        )
    log.warning("serving on %s without a login (--insecure): anyone who can reach it can use it", host)


class LoginThrottle:
    """The login check for the page: the ``RAG_AUTH`` user and password, with lockouts.

    Gradio calls it once per login attempt with (username, password). After
    ``free_failures`` failures in a row for a name, that name is locked out for
    ``base_lockout_s``, doubling with each further failure up to ``max_lockout_s``; an
    attempt during a lockout is refused without looking at the password, so guessing
    runs at a few tries a minute instead of hundreds a second. (Refused, not delayed:
    Gradio calls the check on its event loop, where a sleep would stall every visitor.)
    A success clears the count. Gradio does not tell the check who is asking, so the count is per name tried:
    the configured name, and one shared count for all others (so made-up names cannot
    fill memory). ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        user: str,
        password: str,
        *,
        free_failures: int = 5,
        base_lockout_s: float = 2.0,
        max_lockout_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._user = user.encode("utf-8")
        self._password = password.encode("utf-8")
        self.free_failures = free_failures
        self.base_lockout_s = base_lockout_s
        self.max_lockout_s = max_lockout_s
        self._clock = clock
        self._failures: dict[bool, int] = {}
        self._locked_until: dict[bool, float] = {}
        self._lock = threading.Lock()

    def __call__(self, username: str, password: str) -> bool:
        """True when the login is right and its name is not locked out."""
        name_ok = hmac.compare_digest(str(username).encode("utf-8", "replace"), self._user)
        password_ok = hmac.compare_digest(str(password).encode("utf-8", "replace"), self._password)
        key = name_ok  # the configured name, or "any other name"
        with self._lock:
            now = self._clock()
            if now < self._locked_until.get(key, float("-inf")):
                log.warning("login refused: too many failed attempts; locked for %.0f s more",
                            self._locked_until[key] - now)
                return False
            if name_ok and password_ok:
                self._failures.pop(key, None)
                return True
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            if failures >= self.free_failures:
                wait = min(self.max_lockout_s, self.base_lockout_s * 2 ** (failures - self.free_failures))
                self._locked_until[key] = now + wait
                log.warning("%d failed logins in a row: the next attempt waits %.0f s", failures, wait)
            return False

    def locked_for(self, username: str) -> float:
        """Seconds until ``username`` may try again (0 when it may now)."""
        key = hmac.compare_digest(str(username).encode("utf-8", "replace"), self._user)
        with self._lock:
            return max(0.0, self._locked_until.get(key, float("-inf")) - self._clock())

