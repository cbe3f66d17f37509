from dataclasses import dataclass

import pytest
from sqlalchemy import select

from app.admin import services as admin_services
from app.db import session_scope
from app.inspectors.models import Inspector
from app.inspectors.services import create_inspector, grant_office_key
from app.offices.models import OfficeKey

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
        admin = db.scalar(select(Inspector).where(Inspector.username == installed.admin))
        added = admin_services.add_office(db, admin, "east", "东区减负办")
        bob = create_inspector(db, "bob", BOB_PASSWORD)
        for key_id, private_key in added.private_keys.items():
            grant_office_key(db, db.get(OfficeKey, key_id), bob.inspector, private_key)
        return OtherOffice("east", "bob", BOB_PASSWORD, bob.totp_secret)
