"""Fixtures for the analytics tests: a second office with its own inspector, and the office keys."""

import pytest
from sqlalchemy import select

import crypto
from app.admin import services as admin_services
from app.db import session_scope
from app.inspectors.models import Inspector
from app.inspectors.services import create_inspector, grant_office_key
from app.offices.models import OfficeKey
from tests.analytics.helpers import BOB_PASSWORD, OtherOffice, default_keys


@pytest.fixture
def other_office(installed) -> OtherOffice:
    """Office `east` with its own inspector bob, who holds no key of `default` (the admin holds both)."""
    with session_scope(installed.url) as db:
        admin = db.scalar(select(Inspector).where(Inspector.username == installed.admin))
        added = admin_services.add_office(db, admin, "east", "东区减负办")
        bob = create_inspector(db, "bob", BOB_PASSWORD)
        for key_id, private_key in added.private_keys.items():
            grant_office_key(db, db.get(OfficeKey, key_id), bob.inspector, private_key)
        return OtherOffice("east", added.office.id, "bob", BOB_PASSWORD, bob.totp_secret,
                           dict(added.private_keys))


@pytest.fixture
def keys(installed) -> dict[int, crypto.PrivateKey]:
    return default_keys(installed)
