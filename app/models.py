"""Every table, imported in one place for Alembic and for create_all in tests."""

from app.db import Base
from app.inspectors.models import Inspector, OfficeGrant
from app.install.models import InstallSettings, PendingSetup
from app.offices.models import Office, OfficeKey
from app.reporting.models import Message, Tip
from app.sessions import ServerSession

__all__ = [
    "Base",
    "InstallSettings",
    "Inspector",
    "Message",
    "Office",
    "OfficeGrant",
    "OfficeKey",
    "PendingSetup",
    "ServerSession",
    "Tip",
]
