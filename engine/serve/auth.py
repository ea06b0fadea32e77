"""Who may use the server: loopback without a token by default; any other address only with a bearer token.

The token comes from --token-file, or is generated on the first start off loopback and kept in the user
config folder (platformdirs, mode 0600), where the next start finds it. Tokens are compared in constant
time (hmac.compare_digest). Torch-free.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from pathlib import Path

TOKEN_FILE_NAME = "serve-token"


class TokenError(ValueError):
    """The token file is unreadable or empty (one-line message)."""


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and "localhost" are loopback; anything else (0.0.0.0, a LAN address, a name) is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_token_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("scriba")) / TOKEN_FILE_NAME


def read_token(path: str | Path) -> str:
    path = Path(path).expanduser()
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else exc
        raise TokenError(f"cannot read the token file {path}: {why}") from None
    if not token:
        raise TokenError(f"the token file {path} is empty")
    return token


def saved_or_new_token(path: Path | None = None) -> tuple[str, bool]:
    """The token saved in the config folder, or a new one written there (0600). (token, created)."""
    path = path or default_token_path()
    if path.is_file():
        return read_token(path), False
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    return token, True


def token_policy(host: str, token_file: str | Path | None, saved: Path | None = None) -> tuple[str | None, bool]:
    """The token the server requires for `host` (None: no token needed, loopback without --token-file), and
    whether it was generated just now (to print it once)."""
    if token_file is not None:
        return read_token(token_file), False
    if is_loopback(host):
        return None, False
    return saved_or_new_token(saved)


def authorized(header: str | None, token: str | None) -> bool:
    """Whether an Authorization header carries the token (always true when none is required)."""
    if token is None:
        return True
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer "):].strip().encode("utf-8"), token.encode("utf-8"))
