"""Every table, imported in one place for Alembic and for create_all in tests."""

from app.analytics.models import PublishedMonth
from app.audit.models import AuditEntry
from app.db import Base
from app.evidence.models import Attachment, AttachmentChunk, HeldUpload, HeldUploadChunk
from app.flood.models import RateBucket, SpentToken
from app.inspectors.models import Inspector, OfficeGrant
from app.install.models import InstallSettings, PendingSetup
from app.offices.models import Office, OfficeKey
from app.reporting.models import Message, Tip, TipRevision
from app.sessions import ServerSession
from app.triage.models import StatusChange, TipNote

__all__ = [
    "Attachment",
    "AttachmentChunk",
    "AuditEntry",
    "Base",
    "HeldUpload",
    "HeldUploadChunk",
    "InstallSettings",
    "Inspector",
    "Message",
    "Office",
    "OfficeGrant",
    "OfficeKey",
    "PendingSetup",
    "PublishedMonth",
    "RateBucket",
    "ServerSession",
    "SpentToken",
    "StatusChange",
    "Tip",
    "TipNote",
    "TipRevision",
]
