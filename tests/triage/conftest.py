from dataclasses import dataclass

import pytest

from app.db import session_scope
from tests.conftest import add_office_with_inspector

BOB_PASSWORD = "bob's long enough password"


@dataclass
class OtherOffice:
    code: str
    username: str
    password: str
    totp_secret: str


@pytest.fixture
def other_office(installed) -> OtherOffice:
    """Office `east` with its own inspector bob, who holds no key of `default`."""
    with session_scope(installed.url) as db:
        _admin, _added, bob = add_office_with_inspector(db, installed.admin, "bob", BOB_PASSWORD)
        return OtherOffice("east", "bob", BOB_PASSWORD, bob.totp_secret)
