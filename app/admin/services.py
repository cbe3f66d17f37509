"""Administration: accounts, grants, offices, key rotation and recovery.

The admin's own session (web) or password (CLI) provides the office private keys to seal for
others: the server never holds an office key that no person unlocked. Every action is audit-logged.
Nothing here commits.
"""

import re
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

import crypto
from app import clock
from app.audit import services as audit
from app.inspectors import services as accounts
from app.inspectors.login import open_office_keys
from app.inspectors.models import Inspector, OfficeGrant
from app.offices import services as offices
from app.offices.models import Office, OfficeKey

OFFICE_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
OFFICE_NAME_MAX = 200

_ACCOUNT_MESSAGES = {
    "invalid username": _l("用户名无效（1至64个可打印字符）。"),
    "username taken": _l("该用户名已被使用。"),
    "password too short": _l("密码至少12个字符。"),
    "invalid password": _l("密码无效。"),
}


class AdminError(Exception):
    """A request that cannot be carried out; str() is a message safe to show."""


def account_message(error: accounts.AccountError):
    return _ACCOUNT_MESSAGES.get(str(error), _l("操作无法完成。"))


def office_key_generations(db: Session, office: Office) -> list[OfficeKey]:
    return list(db.scalars(select(OfficeKey).where(OfficeKey.office_id == office.id).order_by(OfficeKey.id)))


def held_offices(db: Session, held: dict[int, bytes]) -> list[Office]:
    """Offices whose current key the admin holds: the ones they can grant."""
    return [o for o in db.scalars(select(Office).order_by(Office.id)) if o.current_key_id in held]


def granted_office_ids(db: Session, inspector: Inspector) -> set[int]:
    """Offices whose current key generation the inspector holds."""
    rows = db.execute(select(OfficeKey.office_id, OfficeKey.id, Office.current_key_id)
                      .join(OfficeGrant, OfficeGrant.office_key_id == OfficeKey.id)
                      .join(Office, Office.id == OfficeKey.office_id)
                      .where(OfficeGrant.inspector_id == inspector.id))
    return {office_id for office_id, key_id, current in rows if key_id == current}


def _grant_office(db: Session, office: Office, inspector: Inspector, held: dict[int, bytes]) -> None:
    """Seal every generation of the office key that the admin holds to the inspector."""
    if office.current_key_id not in held:
        raise AdminError(_l("您没有该单位当前的密钥，无法授权。"))
    for office_key in office_key_generations(db, office):
        if office_key.id in held:
            accounts.grant_office_key(db, office_key, inspector, held[office_key.id])


def _revoke_office(db: Session, office: Office, inspector: Inspector) -> None:
    key_ids = [k.id for k in office_key_generations(db, office)]
    for grant in db.scalars(select(OfficeGrant).where(OfficeGrant.inspector_id == inspector.id,
                                                      OfficeGrant.office_key_id.in_(key_ids))):
        db.delete(grant)


@dataclass(frozen=True, repr=False)
class AddedInspector:
    inspector: Inspector
    totp_secret: str


def add_inspector(db: Session, actor: Inspector, held: dict[int, bytes], username: str, password: str,
                  office_codes: list[str], *, is_admin: bool = False, via: str = "web") -> AddedInspector:
    chosen = []
    for code in dict.fromkeys(office_codes):
        office = offices.get_office_by_code(db, code)
        if office is None:
            raise AdminError(_l("没有这个受理单位。"))
        chosen.append(office)
    try:
        new = accounts.create_inspector(db, username, password, is_admin=is_admin)
    except accounts.AccountError as error:
        raise AdminError(account_message(error)) from None
    except crypto.CryptoError:
        raise AdminError(_l("密码无效。")) from None
    for office in chosen:
        _grant_office(db, office, new.inspector, held)
    audit.record(db, audit.ADMIN_INSPECTOR_ADD, actor_id=actor.id, target=f"inspector:{new.inspector.id}",
                 detail={"username": new.inspector.username, "admin": is_admin,
                         "offices": [o.code for o in chosen], "via": via})
    db.flush()
    return AddedInspector(inspector=new.inspector, totp_secret=new.totp_secret)


def set_grants(db: Session, actor: Inspector, held: dict[int, bytes], inspector: Inspector,
               office_codes: list[str]) -> None:
    """Make the inspector's offices exactly these (only offices the admin holds can be added)."""
    wanted = set(dict.fromkeys(office_codes))
    if wanted - {o.code for o in db.scalars(select(Office))}:
        raise AdminError(_l("没有这个受理单位。"))
    current = granted_office_ids(db, inspector)
    added, removed = [], []
    for office in db.scalars(select(Office).order_by(Office.id)):
        if office.code in wanted and office.id not in current:
            _grant_office(db, office, inspector, held)
            added.append(office.code)
        elif office.code not in wanted and office.id in current:
            _revoke_office(db, office, inspector)
            removed.append(office.code)
    audit.record(db, audit.ADMIN_INSPECTOR_GRANTS, actor_id=actor.id, target=f"inspector:{inspector.id}",
                 detail={"added": added, "removed": removed})
    db.flush()


def _enabled_admins(db: Session) -> list[Inspector]:
    return list(db.scalars(select(Inspector).where(Inspector.is_admin.is_(True), Inspector.disabled.is_(False))))


def _not_self_or_last_admin(db: Session, actor: Inspector, inspector: Inspector) -> None:
    if inspector.id == actor.id:
        raise AdminError(_l("不能对自己的账户执行此操作。"))
    if inspector.is_admin and not inspector.disabled and len(_enabled_admins(db)) <= 1:
        raise AdminError(_l("这是最后一个管理员账户。"))


def disable_inspector(db: Session, actor: Inspector, inspector: Inspector) -> None:
    """No more logins, open sessions end, and every grant is deleted (re-granted if enabled again)."""
    _not_self_or_last_admin(db, actor, inspector)
    inspector.disabled = True
    inspector.auth_epoch += 1
    for grant in db.scalars(select(OfficeGrant).where(OfficeGrant.inspector_id == inspector.id)):
        db.delete(grant)
    audit.record(db, audit.ADMIN_INSPECTOR_DISABLE, actor_id=actor.id, target=f"inspector:{inspector.id}")
    db.flush()


def enable_inspector(db: Session, actor: Inspector, inspector: Inspector) -> None:
    inspector.disabled = False
    inspector.failed_logins = 0
    inspector.locked_until = 0.0
    audit.record(db, audit.ADMIN_INSPECTOR_ENABLE, actor_id=actor.id, target=f"inspector:{inspector.id}")
    db.flush()


def remove_inspector(db: Session, actor: Inspector, inspector: Inspector) -> None:
    """Delete the account and its grants; its notes and history stay, without a name."""
    _not_self_or_last_admin(db, actor, inspector)
    username = inspector.username
    inspector_id = inspector.id
    for grant in db.scalars(select(OfficeGrant).where(OfficeGrant.inspector_id == inspector.id)):
        db.delete(grant)
    db.flush()
    db.delete(inspector)
    audit.record(db, audit.ADMIN_INSPECTOR_REMOVE, actor_id=actor.id, target=f"inspector:{inspector_id}",
                 detail={"username": username})
    db.flush()


@dataclass(frozen=True, repr=False)
class ResetResult:
    totp_secret: str
    lost_offices: list[str]


def reset_password(db: Session, actor: Inspector, held: dict[int, bytes], inspector: Inspector,
                   new_password: str) -> ResetResult:
    """A forgotten password: new key pair and TOTP secret; offices re-granted from the admin's keys."""
    had = set(db.scalars(select(OfficeGrant.office_key_id).where(OfficeGrant.inspector_id == inspector.id)))
    try:
        credentials = accounts.reset_credentials(db, inspector, new_password)
    except accounts.AccountError as error:
        raise AdminError(account_message(error)) from None
    lost: set[str] = set()
    for key_id in sorted(had):
        office_key = db.get(OfficeKey, key_id)
        if office_key is None:
            continue
        if key_id in held:
            accounts.grant_office_key(db, office_key, inspector, held[key_id])
        else:
            lost.add(office_key.office.code)
    audit.record(db, audit.ADMIN_INSPECTOR_RESET, actor_id=actor.id, target=f"inspector:{inspector.id}",
                 detail={"regranted": len(had) - len(lost), "not_regranted": sorted(lost)})
    db.flush()
    return ResetResult(totp_secret=credentials.totp_secret, lost_offices=sorted(lost))


@dataclass(frozen=True, repr=False)
class AddedOffice:
    office: Office
    recovery_key: str
    private_keys: dict[int, bytes]


def add_office(db: Session, actor: Inspector, code: str, name: str, *, via: str = "web") -> AddedOffice:
    """A new office; its key is granted to the admin who made it; the recovery key is shown once."""
    code = (code or "").strip()
    name = " ".join((name or "").split())
    if not OFFICE_CODE.match(code):
        raise AdminError(_l("单位代码只能用小写字母、数字、- 和 _，最多64个字符。"))
    if not name or len(name) > OFFICE_NAME_MAX or not name.isprintable():
        raise AdminError(_l("请填写单位名称（最多200个字）。"))
    try:
        new = offices.create_office(db, code, name)
    except offices.OfficeExists:
        raise AdminError(_l("该单位代码已存在。")) from None
    accounts.grant_office_key(db, new.office_key, actor, new.private_key)
    audit.record(db, audit.ADMIN_OFFICE_ADD, actor_id=actor.id, target=f"office:{code}",
                 detail={"name": name, "via": via})
    db.flush()
    return AddedOffice(office=new.office, recovery_key=new.recovery_key,
                       private_keys={new.office_key.id: new.private_key})


@dataclass(frozen=True, repr=False)
class RotatedKey:
    office_key: OfficeKey
    private_key: bytes
    granted: int


def rotate_office_key(db: Session, actor: Inspector, office: Office, *, via: str = "web") -> RotatedKey:
    """A new key pair for new tips, sealed to the same recovery key and granted to everyone who held
    the previous generation. Older tips keep their key and still open."""
    previous = db.get(OfficeKey, office.current_key_id) if office.current_key_id else None
    if previous is None:
        raise AdminError(_l("该单位还没有密钥。"))
    pair = crypto.generate_keypair()
    office_key = OfficeKey(office_id=office.id, public_key=pair.public_key, sealed_for_recovery=b"",
                           recovery_public_key=previous.recovery_public_key, created_on=clock.today())
    db.add(office_key)
    db.flush()
    # The same sealing as offices.create_office, so that open_with_recovery_key opens every generation.
    office_key.sealed_for_recovery = crypto.seal_key(pair.private_key, previous.recovery_public_key,
                                                     owner=offices.key_owner(office_key), purpose="office-recovery")
    holders = list(db.scalars(select(Inspector).join(OfficeGrant, OfficeGrant.inspector_id == Inspector.id)
                              .where(OfficeGrant.office_key_id == previous.id)))
    for holder in holders:
        accounts.grant_office_key(db, office_key, holder, pair.private_key)
    office.current_key_id = office_key.id
    audit.record(db, audit.ADMIN_OFFICE_ROTATE, actor_id=actor.id, target=f"office:{office.code}",
                 detail={"key": office_key.id, "previous": previous.id, "granted": len(holders), "via": via})
    db.flush()
    return RotatedKey(office_key=office_key, private_key=pair.private_key, granted=len(holders))


def recover_office(db: Session, actor: Inspector, office: Office, recovery_key: str, *,
                   via: str = "web") -> dict[int, bytes]:
    """Open every generation of the office key with its offline recovery key and grant them to the
    acting admin (for when no inspector can open them any more)."""
    opened: dict[int, bytes] = {}
    for office_key in office_key_generations(db, office):
        try:
            opened[office_key.id] = offices.open_with_recovery_key(office_key, recovery_key or "")
        except crypto.CryptoError:
            continue
    if not opened or office.current_key_id not in opened:
        audit.record(db, audit.ADMIN_OFFICE_RECOVER, actor_id=actor.id, target=f"office:{office.code}",
                     detail={"ok": False, "via": via})
        raise AdminError(_l("恢复密钥不正确。"))
    for key_id, private_key in opened.items():
        accounts.grant_office_key(db, db.get_one(OfficeKey, key_id), actor, private_key)
    audit.record(db, audit.ADMIN_OFFICE_RECOVER, actor_id=actor.id, target=f"office:{office.code}",
                 detail={"ok": True, "generations": len(opened), "via": via})
    db.flush()
    return opened


# ---------------------------------------------------------------------------------------------
# The CLI authenticates the admin with their password (standard input) rather than a session.


def admin_from_password(db: Session, username: str, password: str) -> tuple[Inspector, dict[int, bytes]]:
    inspector = db.scalar(select(Inspector).where(Inspector.username == username))
    if inspector is None or not inspector.is_admin or inspector.disabled:
        try:
            crypto.spend_password_time(password)
        except crypto.CryptoError:
            pass
        raise AdminError("unknown administrator or wrong password")
    try:
        private_key = crypto.unwrap_private_key(inspector.wrapped_private_key, password)
    except crypto.CryptoError:
        raise AdminError("unknown administrator or wrong password") from None
    return inspector, open_office_keys(db, inspector, private_key)
