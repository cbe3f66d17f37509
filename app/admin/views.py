"""Administration pages: accounts and grants, offices, key rotation and recovery, the audit log."""

import pyotp
from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from app.admin import services
from app.admin.forms import (
    AuditFilterForm,
    ConfirmForm,
    EmptyForm,
    GrantsForm,
    NewInspectorForm,
    NewOfficeForm,
    RecoverForm,
    ResetPasswordForm,
)
from app.audit import services as audit
from app.db import get_session
from app.formtools import choices
from app.inspectors import auth
from app.inspectors.forms import StoredConfirmForm
from app.inspectors.models import Inspector
from app.inspectors.views import TOTP_ISSUER, flash_expired, totp_qr_svg
from app.offices.models import Office, OfficeKey
from app.offices.services import get_office_by_code

bp = Blueprint("admin", __name__, url_prefix="/admin")

_PENDING_RECOVERY = "admin_pending_recovery_key"
AUDIT_PER_PAGE = 100


def _me() -> Inspector:
    me = auth.current_inspector()
    assert me is not None  # behind admin_required
    return me


def _office_choices(db):
    """Every office can be shown; only those whose key this admin holds can be granted."""
    held = auth.raw_office_keys()
    return choices((o.code, o.name + ("" if o.current_key_id in held else _("（您没有此单位的密钥）")))
                   for o in db.scalars(select(Office).order_by(Office.id)))


def _inspector_or_404(inspector_id: int) -> Inspector:
    inspector = get_session().get(Inspector, inspector_id)
    if inspector is None:
        abort(404)
    return inspector


def _office_or_404(code: str) -> Office:
    office = get_office_by_code(get_session(), code) if len(code) <= 64 else None
    if office is None:
        abort(404)
    return office


@bp.get("/")
@auth.admin_required
def index():
    db = get_session()
    inspectors = list(db.scalars(select(Inspector).order_by(Inspector.username)))
    offices = list(db.scalars(select(Office).order_by(Office.id)))
    grants = {i.id: services.granted_office_ids(db, i) for i in inspectors}
    return render_template("inspector/admin/index.html", inspectors=inspectors, offices=offices, grants=grants,
                           held=auth.raw_office_keys())


# ---------------------------------------------------------------------------------------------
# Inspectors


def _totp_page(inspector: Inspector, secret: str, title: str, lost: list[str] | None = None):
    uri = pyotp.TOTP(secret).provisioning_uri(name=inspector.username, issuer_name=TOTP_ISSUER)
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return render_template("inspector/admin/credentials.html", inspector=inspector, secret=grouped,
                           qr=totp_qr_svg(uri), title=title, lost=lost or [])


@bp.route("/inspectors/new", methods=["GET", "POST"])
@auth.admin_required
def new_inspector():
    db = get_session()
    form = NewInspectorForm()
    form.offices.choices = _office_choices(db)
    if request.method == "GET":
        return render_template("inspector/admin/new_inspector.html", form=form)
    if not form.validate():
        if form.csrf_token.errors:
            flash_expired()
        return render_template("inspector/admin/new_inspector.html", form=form), 400
    try:
        added = services.add_inspector(db, _me(), auth.raw_office_keys(), form.username.data or "",
                                       form.password.data or "", form.offices.data or [],
                                       is_admin=bool(form.is_admin.data))
    except services.AdminError as error:
        db.rollback()
        flash(str(error), "error")
        return render_template("inspector/admin/new_inspector.html", form=form), 400
    db.commit()
    # The TOTP secret is shown on this response only; nothing keeps it for a later page.
    return _totp_page(added.inspector, added.totp_secret, _("核查员账户已创建"))


def _render_inspector(inspector: Inspector, status: int = 200, **forms):
    db = get_session()
    grants_form = forms.get("grants_form")
    if grants_form is None:
        current = services.granted_office_ids(db, inspector)
        grants_form = GrantsForm(formdata=None, offices=[o.code for o in db.scalars(select(Office))
                                                         if o.id in current])
    grants_form.offices.choices = _office_choices(db)
    return render_template(
        "inspector/admin/inspector.html", inspector=inspector, grants_form=grants_form,
        reset_form=forms.get("reset_form") or ResetPasswordForm(formdata=None),
        confirm_form=forms.get("confirm_form") or ConfirmForm(formdata=None),
        empty_form=EmptyForm(formdata=None),
        failed=forms.get("failed"),
    ), status


@bp.get("/inspectors/<int:inspector_id>")
@auth.admin_required
def inspector(inspector_id: int):
    return _render_inspector(_inspector_or_404(inspector_id))


def _admin_failed(inspector: Inspector, form_name: str, form, message=None):
    get_session().rollback()
    if form.csrf_token.errors:
        flash_expired()
    elif message:
        flash(message, "error")
    return _render_inspector(inspector, 400, **{form_name: form, "failed": form_name})


@bp.post("/inspectors/<int:inspector_id>/grants")
@auth.admin_required
def grants(inspector_id: int):
    inspector = _inspector_or_404(inspector_id)
    db = get_session()
    form = GrantsForm()
    form.offices.choices = _office_choices(db)
    if not form.validate():
        return _admin_failed(inspector, "grants_form", form)
    try:
        services.set_grants(db, _me(), auth.raw_office_keys(), inspector, form.offices.data or [])
    except services.AdminError as error:
        return _admin_failed(inspector, "grants_form", form, str(error))
    db.commit()
    flash(_("授权已更新。"), "ok")
    return redirect(url_for("admin.inspector", inspector_id=inspector.id), code=303)


def _account_action(inspector_id: int, action, message: str, *, needs_confirm: bool = False):
    inspector = _inspector_or_404(inspector_id)
    db = get_session()
    form = ConfirmForm() if needs_confirm else EmptyForm()
    form_name = "confirm_form" if needs_confirm else "empty_form"
    if not form.validate():
        return _admin_failed(inspector, form_name, form)
    try:
        action(db, _me(), inspector)
    except services.AdminError as error:
        return _admin_failed(inspector, form_name, form, str(error))
    db.commit()
    flash(message, "ok")
    return redirect(url_for("admin.index"), code=303)


@bp.post("/inspectors/<int:inspector_id>/disable")
@auth.admin_required
def disable(inspector_id: int):
    return _account_action(inspector_id, services.disable_inspector, _("账户已停用，授权已收回。"))


@bp.post("/inspectors/<int:inspector_id>/enable")
@auth.admin_required
def enable(inspector_id: int):
    return _account_action(inspector_id, services.enable_inspector, _("账户已启用。请重新授予受理单位。"))


@bp.post("/inspectors/<int:inspector_id>/remove")
@auth.admin_required
def remove(inspector_id: int):
    return _account_action(inspector_id, services.remove_inspector, _("账户已删除。"), needs_confirm=True)


@bp.post("/inspectors/<int:inspector_id>/reset")
@auth.admin_required
def reset(inspector_id: int):
    inspector = _inspector_or_404(inspector_id)
    db = get_session()
    form = ResetPasswordForm()
    if not form.validate():
        return _admin_failed(inspector, "reset_form", form)
    try:
        result = services.reset_password(db, _me(), auth.raw_office_keys(), inspector, form.password.data or "")
    except services.AdminError as error:
        return _admin_failed(inspector, "reset_form", form, str(error))
    db.commit()
    return _totp_page(inspector, result.totp_secret, _("密码已重置"), result.lost_offices)


# ---------------------------------------------------------------------------------------------
# Offices


@bp.route("/offices/new", methods=["GET", "POST"])
@auth.admin_required
def new_office():
    form = NewOfficeForm()
    if request.method == "GET":
        return render_template("inspector/admin/new_office.html", form=form)
    if not form.validate():
        if form.csrf_token.errors:
            flash_expired()
        return render_template("inspector/admin/new_office.html", form=form), 400
    db = get_session()
    try:
        added = services.add_office(db, _me(), form.code.data or "", form.name.data or "")
    except services.AdminError as error:
        db.rollback()
        flash(str(error), "error")
        return render_template("inspector/admin/new_office.html", form=form), 400
    db.commit()
    auth.add_office_keys(added.private_keys)
    session[_PENDING_RECOVERY] = {"office": added.office.name, "key": added.recovery_key}
    return redirect(url_for("admin.office_recovery_key"), code=303)


@bp.route("/offices/recovery-key", methods=["GET", "POST"])
@auth.admin_required
def office_recovery_key():
    """The new office's recovery key, shown until the admin confirms it was stored."""
    pending = session.get(_PENDING_RECOVERY)
    if not isinstance(pending, dict):
        return redirect(url_for("admin.index"))
    form = StoredConfirmForm()
    if request.method == "POST":
        if form.validate():
            session.pop(_PENDING_RECOVERY, None)
            flash(_("受理单位已创建。"), "ok")
            return redirect(url_for("admin.index"), code=303)
        if form.csrf_token.errors:
            flash_expired()
    return render_template("inspector/auth/recovery_key.html", form=form, office_name=pending.get("office"),
                           recovery_key=pending.get("key")), 400 if request.method == "POST" else 200


def _render_office(office: Office, status: int = 200, **forms):
    db = get_session()
    generations = list(db.scalars(select(OfficeKey).where(OfficeKey.office_id == office.id).order_by(OfficeKey.id)))
    return render_template("inspector/admin/office.html", office=office, generations=generations,
                           held=auth.raw_office_keys(),
                           rotate_form=forms.get("rotate_form") or ConfirmForm(formdata=None),
                           recover_form=forms.get("recover_form") or RecoverForm(formdata=None)), status


@bp.get("/offices/<code>")
@auth.admin_required
def office(code: str):
    return _render_office(_office_or_404(code))


@bp.post("/offices/<code>/rotate")
@auth.admin_required
def rotate(code: str):
    office = _office_or_404(code)
    db = get_session()
    form = ConfirmForm()
    if not form.validate():
        if form.csrf_token.errors:
            flash_expired()
        return _render_office(office, 400, rotate_form=form)
    try:
        rotated = services.rotate_office_key(db, _me(), office)
    except services.AdminError as error:
        db.rollback()
        flash(str(error), "error")
        return _render_office(office, 400, rotate_form=form)
    db.commit()
    auth.add_office_keys({rotated.office_key.id: rotated.private_key})
    flash(_("已换用新密钥：新线索用新密钥加密，旧线索仍可打开。"), "ok")
    return redirect(url_for("admin.office", code=office.code), code=303)


@bp.post("/offices/<code>/recover")
@auth.admin_required
def recover(code: str):
    office = _office_or_404(code)
    db = get_session()
    form = RecoverForm()
    if not form.validate():
        if form.csrf_token.errors:
            flash_expired()
        return _render_office(office, 400, recover_form=form)
    try:
        opened = services.recover_office(db, _me(), office, form.recovery_key.data or "")
    except services.AdminError as error:
        db.commit()  # keep the record of the failed attempt (nothing else changed)
        form.recovery_key.errors = [str(error)]
        return _render_office(office, 400, recover_form=form)
    db.commit()
    auth.add_office_keys(opened)
    flash(_("已用恢复密钥打开该单位的全部密钥，并授权给您。"), "ok")
    return redirect(url_for("admin.office", code=office.code), code=303)


# ---------------------------------------------------------------------------------------------
# The audit log


@bp.get("/audit")
@auth.admin_required
def audit_log():
    db = get_session()
    form = AuditFilterForm(formdata=request.args)
    form.validate()
    page_number = form.page.data if not form.page.errors and form.page.data else 1
    action = form.action.data if not form.action.errors and form.action.data else None
    entries = audit.page(db, page_number=page_number, per_page=AUDIT_PER_PAGE, action=action)
    result = audit.verify(db)
    names = {row[0]: row[1] for row in db.execute(select(Inspector.id, Inspector.username))}
    audit.record(db, audit.ADMIN_AUDIT_VIEW, actor_id=_me().id, detail={"page": page_number})
    db.commit()
    return render_template("inspector/admin/audit.html", entries=entries, result=result, names=names,
                           page_number=page_number, per_page=AUDIT_PER_PAGE, form=form, action=action,
                           parse_detail=audit.parse_detail)
