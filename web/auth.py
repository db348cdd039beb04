"""Who is asking: a Bearer token (API) or a signed session cookie (browser), else 401.

The cookie holds the user, an expiry and the first characters of the user's
token hash, signed with the app's key: giving the user a new token ends their
sessions. Cookie-authenticated writes must come from our own origin (CSRF).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from web.users import UserDirectory

SESSION_COOKIE = "pp_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def load_or_create_key(path: Path) -> bytes:
    if path.is_file():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


class SessionSigner:
    def __init__(self, key: bytes, hours: float) -> None:
        self.key, self.seconds = key, int(hours * 3600)

    def _tag(self, payload: str) -> str:
        digest = hmac.new(self.key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, user: str, token_hash: str) -> str:
        payload = f"{user}|{int(time.time()) + self.seconds}|{token_hash[:16]}"
        return f"{payload}|{self._tag(payload)}"

    def verify(self, value: str) -> tuple[str, str] | None:
        """(user, token-hash prefix) of a valid, unexpired cookie, else None."""
        payload, _, tag = value.rpartition("|")
        parts = payload.split("|")
        if len(parts) != 3 or not hmac.compare_digest(tag, self._tag(payload)):
            return None
        user, expiry, prefix = parts
        if not expiry.isdigit() or int(expiry) < time.time():
            return None
        return user, prefix


class Authenticator:
    def __init__(self, users: UserDirectory, signer: SessionSigner) -> None:
        self.users, self.signer = users, signer

    def user_from_token(self, token: str) -> str | None:
        return self.users.user_for_token(token) if token else None

    def user_from_cookie(self, value: str | None) -> str | None:
        verified = self.signer.verify(value) if value else None
        if verified is None:
            return None
        user, prefix = verified
        current = self.users.token_hash(user)
        return user if current is not None and hmac.compare_digest(current[:16], prefix) else None

    def session_for(self, token: str) -> tuple[str, str] | None:
        """(user, cookie value) for a valid token: the login page's exchange."""
        user = self.user_from_token(token)
        return (user, self.signer.issue(user, self.users.token_hash(user))) if user else None

    def identify(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return self.user_from_token(token.strip())
        user = self.user_from_cookie(request.cookies.get(SESSION_COOKIE))
        if user is not None and request.method not in SAFE_METHODS and not same_origin(request):
            return None
        return user


def same_origin(request: Request) -> bool:
    """A write sent with the cookie must name our host as its Origin (or, lacking one, its Referer)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    return bool(source) and urlsplit(source).netloc == request.headers.get("host", "")


def current_user(request: Request) -> str:
    """FastAPI dependency of every API endpoint but health."""
    user = request.app.state.auth.identify(request)
    if user is None:
        raise HTTPException(401, "authentication required: send 'Authorization: Bearer TOKEN' "
                                 "(a token from `python -m flows users add`), or log in at /login",
                            headers={"WWW-Authenticate": "Bearer"})
    return user
