"""Fixtures for the analytics tests: a second office with its own inspector, and the office keys."""

import pytest

import crypto
from app.db import session_scope
from tests.analytics.helpers import BOB_PASSWORD, OtherOffice, default_keys
from tests.conftest import add_office_with_inspector


@pytest.fixture
def other_office(installed) -> OtherOffice:
    """Office `east` with its own inspector bob, who holds no key of `default` (the admin holds both)."""
    with session_scope(installed.url) as db:
        _admin, added, bob = add_office_with_inspector(db, installed.admin, "bob", BOB_PASSWORD)
        return OtherOffice("east", added.office.id, "bob", BOB_PASSWORD, bob.totp_secret,
                           dict(added.private_keys))


@pytest.fixture
def keys(installed) -> dict[int, crypto.PrivateKey]:
    return default_keys(installed)
