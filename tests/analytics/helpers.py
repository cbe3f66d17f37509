"""Helpers for the analytics tests: office keys for calling the services directly, and the clear
columns (status, dates, messages) set directly, as triage would have left them."""

import os
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select, update

import crypto
from app.db import session_scope
from app.offices.models import Office, OfficeKey
from app.offices.services import open_with_recovery_key
from app.reporting.models import Message, Tip

BOB_PASSWORD = "bob's long enough password"


@dataclass
class OtherOffice:
    code: str
    office_id: int
    username: str
    password: str
    totp_secret: str
    private_keys: dict[int, bytes]


def default_keys(installed) -> dict[int, crypto.PrivateKey]:
    """The `default` office's private keys, opened with its offline recovery key."""
    with session_scope(installed.url) as db:
        office = db.scalar(select(Office).where(Office.code == installed.office))
        return {k.id: crypto.PrivateKey(open_with_recovery_key(k, installed.recovery_key))
                for k in db.scalars(select(OfficeKey).where(OfficeKey.office_id == office.id))}


def office_id(installed, code: str = "default") -> int:
    with session_scope(installed.url) as db:
        return db.scalar(select(Office.id).where(Office.code == code))


def set_tip(installed, tip_id: str, **values) -> None:
    """Clear columns set directly (closed_on, status…), as triage would have left them."""
    with session_scope(installed.url) as db:
        db.execute(update(Tip).where(Tip.id == tip_id).values(**values))


def add_message(installed, tip_id: str, author: str, written_on: date) -> None:
    """A message row; its body is never read by analytics (only author and date)."""
    with session_scope(installed.url) as db:
        position = len(list(db.scalars(select(Message.id).where(Message.tip_id == tip_id)))) + 1
        db.add(Message(id=os.urandom(12).hex(), tip_id=tip_id, author=author, written_on=written_on,
                       position=position, body=b"\x00" * 16))
