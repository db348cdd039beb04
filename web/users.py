"""Users and their API tokens: a JSON file of user names and sha256 hashes of their tokens (never the tokens)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from components.validation import safe_name

TOKEN_PREFIX = "pp_"


def hash_token(token: str) -> str:
    # Tokens are 256 random bits: a fast hash is enough, no guessable secret is behind it.
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def read_users(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    users = data.get("users") if isinstance(data, dict) else None
    if not isinstance(users, dict):
        raise ValueError(f"{path}: not a users file (expected {{\"users\": {{NAME: {{...}}}}}})")
    return users


def add_user(path: Path, name: str, replace: bool = False) -> str:
    """Adds `name` (or gives it a new token with `replace`) and returns the token, which is stored nowhere."""
    name = safe_name(name, "user name")
    users = read_users(path)
    if name in users and not replace:
        raise ValueError(f"user {name!r} exists in {path}; pass --replace to give them a new token")
    token = new_token()
    users[name] = {"token_sha256": hash_token(token), "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    _write_private(path, json.dumps({"users": users}, indent=2) + "\n")
    return token


def _write_private(path: Path, text: str) -> None:
    """Atomic, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class UserDirectory:
    """The users file, read again whenever it changes (users added while the app runs can log in at once)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._by_hash: dict[str, str] = {}

    def _refresh(self) -> None:
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            users = read_users(self.path) if stamp else {}
            self._by_hash = {entry["token_sha256"]: name for name, entry in users.items()
                             if isinstance(entry, dict) and isinstance(entry.get("token_sha256"), str)}
            self._stamp = stamp

    def user_for_token(self, token: str) -> str | None:
        self._refresh()
        return self._by_hash.get(hash_token(token))

    def token_hash(self, user: str) -> str | None:
        self._refresh()
        return next((h for h, name in self._by_hash.items() if hmac.compare_digest(name, user)), None)

    def __len__(self) -> int:
        self._refresh()
        return len(self._by_hash)
