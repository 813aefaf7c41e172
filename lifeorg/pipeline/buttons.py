"""Inline buttons whose callback data is a short signed token bound to a user and an entity.

A token is ``action:entity:nonce:signature`` (well under Telegram's 64 bytes). The
signature covers the user it was made for, so a forged token, or one pressed by someone
else (a forwarded message in a group), fails; each token works once, so a replayed or
double-tapped button does nothing the second time. Either way the user is told why.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import peewee

from lifeorg.models import ButtonPress, User
from lifeorg.models.base import db

# 64 bits of HMAC: forging one means 2**64 tries through Telegram's rate limits.
SIGNATURE_BYTES = 8
NONCE_BYTES = 4
MAX_CALLBACK_DATA = 64


class ButtonRejected(Exception):
    """A button press that must do nothing; the message is what the user is told."""


@dataclass(frozen=True)
class Press:
    """A verified button press: what to do, to which entity."""

    action: str
    entity_id: int
    token: str


def _sign(key: bytes, user_id: int, body: str) -> str:
    digest = hmac.new(key, f"{user_id}:{body}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:SIGNATURE_BYTES]).decode().rstrip("=")


def make(key: bytes, user: User, label: str, action: str, entity_id: int = 0) -> tuple[str, str]:
    """A button (label, callback data) that only ``user`` can press, once."""
    nonce = base64.urlsafe_b64encode(secrets.token_bytes(NONCE_BYTES)).decode().rstrip("=")
    body = f"{action}:{entity_id}:{nonce}"
    data = f"{body}:{_sign(key, user.telegram_user_id, body)}"
    if len(data.encode()) > MAX_CALLBACK_DATA:
        raise ValueError(f"button data too long for Telegram: {data!r}")
    return label, data


def verify(key: bytes, user: User, data: str) -> Press:
    """Check a pressed button's data for ``user``; raises ButtonRejected with the reason."""
    parts = (data or "").split(":")
    if len(parts) != 4 or not parts[1].isdigit():
        raise ButtonRejected("That button is not one of mine.")
    action, entity, nonce, signature = parts
    expected = _sign(key, user.telegram_user_id, f"{action}:{entity}:{nonce}")
    if not hmac.compare_digest(signature, expected):
        raise ButtonRejected("That button is not yours, or it has been tampered with.")
    return Press(action, int(entity), data)


def use(press: Press, user: User) -> None:
    """Spend a verified token; raises ButtonRejected if it was used before."""
    token_hash = hashlib.sha256(press.token.encode()).hexdigest()
    try:
        with db.atomic():
            ButtonPress.create(token_hash=token_hash, owner=user)
    except peewee.IntegrityError:
        raise ButtonRejected("That button was already used.") from None
