"""Reporter site: no login, no address, no time of day. Views bind a form, call one service, render."""

import base64
import logging
import secrets

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf
from sqlalchemy.exc import SQLAlchemyError

import crypto
from app.db import get_session
from app.evidence import drafts
from app.evidence import services as evidence
from app.flood import services as flood
from app.formtools import choices
from app.offices.services import OfficeChoice, list_offices
from app.reporting import services
from app.reporting.forms import (
    ConfirmReceiptForm,
    EmptyForm,
    FollowupLoginForm,
    MessageForm,
    TipForm,
)
from app.reporting.identifiers import find_identifying_details
from app.reporting.taxonomy import (
    BURDEN_BY_CODE,
    BURDEN_TYPES,
    FREQUENCIES,
    IMPOSER_LEVELS,
    STATUS_EXPLANATIONS,
    STATUS_LABELS,
)
from app.sessions import SessionEnded, save_within

bp = Blueprint("reporting", __name__)
log = logging.getLogger(__name__)

_MAX_REMEMBERED_NONCES = 20


def _flood_settings() -> flood.FloodSettings:
    return current_app.extensions["tipline_flood"]


def _challenge() -> flood.Challenge | None:
    db = get_session()
    flood.purge_stale(db)
    challenge = flood.issue_challenge(db, _flood_settings(), current_app.config["SECRET_KEY"])
    db.commit()  # stale counts forgotten; a token issued is counted, so the next one waits longer
    return challenge


def _flood_message(error: flood.FloodError) -> str:
    if error.reason == "wait":
        return _("为防止恶意刷屏，请再等 %(seconds)s 秒后重新点击。您填写的内容都还在。", seconds=error.retry_after)
    if error.reason == "rate_limited":
        return _("现在提交的人太多，请 %(seconds)s 秒后再试。您填写的内容都还在。", seconds=max(error.retry_after, 1))
    return _("安全校验已失效，请重新点击。您填写的内容都还在。")


def _check_flood(kind: str) -> flood.FloodError | None:
    """Hard rate limit, then the proof of work (or wait token). Spends the token on success."""
    db = get_session()
    try:
        flood.check_rate_limit(db, _flood_settings(), kind)
        flood.check(db, _flood_settings(), current_app.config["SECRET_KEY"],
                    request.form.get("pow_token", ""), request.form.get("pow_solution", ""))
    except flood.FloodError as error:
        return error
    return None


def _count(db, kind: str) -> None:
    """Count an event for the flood protection. With protection off nothing is counted: the counts
    feed only the proof of work and the limits, and a count kept for nothing records arrivals."""
    if _flood_settings().enabled:
        flood.record(db, kind)


@bp.get("/")
def landing():
    return render_template("reporting/landing.html")


@bp.get("/safety")
def safety():
    return render_template("reporting/safety.html")


def _tip_form() -> tuple[TipForm, list[OfficeChoice]]:
    offices = list_offices(get_session())
    form = TipForm()
    form.office.choices = choices((o.code, o.name) for o in offices)
    if len(offices) == 1 and not form.office.data:
        form.office.data = offices[0].code
    if not form.submission_nonce.data:
        form.submission_nonce.data = secrets.token_urlsafe(16)
    return form, offices


def _render_form(form: TipForm, offices: list[OfficeChoice], status: int = 200, *,
                 held: evidence.HeldFiles | None = None, file_results: list[evidence.FileResult] | None = None):
    return render_template("reporting/tip_form.html", form=form, offices=offices, burden_types=BURDEN_TYPES,
                           human_size=drafts.human_size,
                           **drafts.template_context(get_session(), held, file_results)), status


def _render_preview(form: TipForm, offices: list[OfficeChoice], content: services.TipContent, status: int = 200, *,
                    held: evidence.HeldFiles | None = None):
    return render_template(
        "reporting/preview.html",
        human_size=drafts.human_size,
        **drafts.template_context(get_session(), held),
        form=form,
        content=content,
        office=next(o for o in offices if o.code == form.office.data),
        show_office=len(offices) > 1,
        findings=find_identifying_details(
            " ".join([content.description, content.platform, content.imposer_name, content.region])),
        burden_by_code=BURDEN_BY_CODE,
        levels=dict(IMPOSER_LEVELS),
        frequencies=dict(FREQUENCIES),
        challenge=_challenge(),
    ), status


def _content(form: TipForm) -> services.TipContent:
    hours = form.hours_per_week.data
    return services.TipContent(
        burden_types=[code for code in form.burden_types.data if code in BURDEN_BY_CODE],
        platform=(form.platform.data or "").strip(),
        imposer_level=form.imposer_level.data or "",
        imposer_name=(form.imposer_name.data or "").strip(),
        frequency=form.frequency.data or "",
        hours_per_week=float(hours) if hours is not None else None,
        region=(form.region.data or "").strip(),
        description=form.description.data or "",
    )


@bp.get("/tip")
def tip_form():
    form, offices = _tip_form()
    if not offices:
        return render_template("reporting/closed.html"), 503
    return _render_form(form, offices)


@bp.post("/tip")
def tip_submit():
    form, offices = _tip_form()
    if not offices:
        return render_template("reporting/closed.html"), 503
    action = request.form.get("action", "preview")
    if action == "edit":
        return _render_form(form, offices)
    valid = form.validate()
    held, file_results = None, drafts.refuse_all(drafts.EXPIRED)
    if not form.csrf_token.errors:
        # Files first, whatever else is wrong with the form: a file input cannot be filled again.
        db = get_session()
        try:
            held, file_results = drafts.take_uploads(db)
            if drafts.touched_files():
                db.commit()
        except SQLAlchemyError:
            db.rollback()
            log.exception("holding attachments failed")
            flash(_("附件没有保存成功，请稍后再试。您填写的文字都还在。"), "error")
            return _render_form(form, offices, 503)
    if not valid or any(not r.accepted for r in file_results):
        if form.csrf_token.errors:
            flash(_("页面停留时间过长，已失效。您填写的内容都还在，请检查后再次点击。"), "error")
        return _render_form(form, offices, 400, held=held, file_results=file_results)
    content = _content(form)
    if action != "send":
        return _render_preview(form, offices, content, held=held)
    nonce = form.submission_nonce.data or ""
    if nonce and nonce in session.get("sent_nonces", []):
        # The same form sent twice (double click, reload): the first one already made the tip.
        return redirect(url_for("reporting.receipt"), code=303)
    flood_error = _check_flood(flood.SUBMISSION)
    if flood_error is not None:
        flash(_flood_message(flood_error), "error")
        return _render_preview(form, offices, content, 429 if flood_error.reason == "rate_limited" else 400)
    office = next(o for o in offices if o.code == form.office.data)
    db = get_session()
    held = held if held is not None else drafts.held(db)
    file_count = len(held.files)
    before = dict(session)
    try:
        # The tip, every one of its files and the session that will show its receipt commit
        # together, or nothing does.
        files = {"attach": lambda tip_id, key: evidence.attach_held(db, held, tip_id, key)} if held.files else {}
        receipt = services.submit_tip(db, office, content, **files)
        _count(db, flood.SUBMISSION)
        drafts.forget()
        session["pending_receipt"] = receipt
        session["pending_attachments"] = file_count
        session["sent_nonces"] = (session.get("sent_nonces", []) + [nonce])[-_MAX_REMEMBERED_NONCES:]
        save_within(db)
        db.commit()
    except Exception as error:
        db.rollback()
        session.clear()
        session.update(before)  # the held files and the form's state, as they were; never a receipt
        if isinstance(error, SessionEnded):
            session.clear()
            session.regenerate()  # ended in another tab: a fresh session for the form's new token
            g.pop("csrf_token", None)  # Flask-WTF caches the old session's token for this request
            form.csrf_token.current_token = generate_csrf()
        elif not isinstance(error, (SQLAlchemyError, crypto.CryptoError)):
            raise
        log.exception("storing a tip failed")
        flash(_("线索没有保存成功，请稍后再试。您填写的内容都还在。"), "error")
        return _render_form(form, offices, 503)
    return redirect(url_for("reporting.receipt"), code=303)


@bp.route("/tip/receipt", methods=["GET", "POST"])
def receipt():
    pending = session.get("pending_receipt")
    if not pending:
        return redirect(url_for("reporting.followup_login"))
    form = ConfirmReceiptForm()
    status = 200
    if request.method == "POST":
        if form.validate() and (form.last_group.data or "").strip() == pending[-4:]:
            # Nothing of this visit needs to outlive it: drop the server-side row now.
            session.clear()
            return redirect(url_for("reporting.receipt_done"), code=303)
        flash(_("最后四位不对。请对照上面的回执码重新输入，并确认已经抄写下来。"), "error")
        status = 400
    groups = [pending[i : i + 4] for i in range(0, 20, 4)]
    return render_template("reporting/receipt.html", groups=groups, form=form,
                           attachment_count=session.get("pending_attachments", 0)), status


@bp.get("/tip/done")
def receipt_done():
    return render_template("reporting/done.html")


def _opened() -> services.OpenedTip | None:
    state = session.get("followup")
    if not state:
        return None
    return services.OpenedTip(tip_id=state["tip_id"], data_key=base64.b64decode(state["key"]))


def _render_followup_login(form: FollowupLoginForm, status: int = 200, **extra):
    return render_template("reporting/followup_login.html", form=form, challenge=_challenge(), **extra), status


@bp.route("/followup", methods=["GET", "POST"])
def followup_login():
    form = FollowupLoginForm()
    if request.method == "GET":
        return _render_followup_login(form)
    if not form.validate():
        if form.csrf_token.errors:
            flash(_("页面停留时间过长，已失效，请再次点击。"), "error")
        return _render_followup_login(form, 400)
    if crypto.normalize_receipt(form.receipt.data or "") is None:
        # Not 20 digits: no KDF is spent, so nothing is counted against the line's limits.
        flash(_("回执码不正确，或该线索已按期删除。请核对后重新输入。"), "error")
        return _render_followup_login(form, 400)
    flood_error = _check_flood(flood.RECEIPT_ATTEMPT)
    if flood_error is not None:
        flash(_flood_message(flood_error), "error")
        return _render_followup_login(form, 429 if flood_error.reason == "rate_limited" else 400)
    db = get_session()
    opened = services.open_with_receipt(db, form.receipt.data or "")
    _count(db, flood.RECEIPT_ATTEMPT)
    if opened is None:
        _count(db, flood.RECEIPT_FAILED)
    db.commit()
    if opened is None:
        flash(_("回执码不正确，或该线索已按期删除。请核对后重新输入。"), "error")
        return _render_followup_login(form, 400)
    session.clear()
    session.regenerate()
    session["followup"] = {"tip_id": opened.tip_id, "key": base64.b64encode(opened.data_key).decode()}
    return redirect(url_for("reporting.followup"), code=303)


def _render_followup(message_form: MessageForm, status: int = 200,
                     file_results: list[evidence.FileResult] | None = None):
    opened = _opened()
    if opened is None:
        return redirect(url_for("reporting.followup_login"))
    db = get_session()
    view = services.read_for_reporter(db, opened)
    if view is None:
        session.clear()
        abort(404)
    return render_template(
        "reporting/followup.html",
        view=view,
        attachments=evidence.list_attachments(db, opened.tip_id, opened.data_key),
        human_size=drafts.human_size,
        **drafts.template_context(db, evidence.HeldFiles(key=b"", files=[]), file_results),
        message_form=message_form,
        logout_form=EmptyForm(),
        status_label=STATUS_LABELS.get(view.status, view.status),
        status_explanation=STATUS_EXPLANATIONS.get(view.status, ""),
        burden_by_code=BURDEN_BY_CODE,
    ), status


@bp.get("/followup/tip")
def followup():
    return _render_followup(MessageForm(formdata=None))


@bp.post("/followup/message")
def followup_message():
    opened = _opened()
    if opened is None:
        flash(_("查看已超时，请重新输入回执码。您刚写的内容没有发出，请先复制保存。"), "error")
        return _render_followup_login(FollowupLoginForm(formdata=None), 401,
                                      unsent_message=request.form.get("message", ""))
    form = MessageForm()
    if not form.validate():
        if form.csrf_token.errors:
            flash(_("页面停留时间过长，已失效。您写的内容还在，请再次点击发送。"), "error")
        return _render_followup(form, 400)
    db = get_session()
    try:
        # Messages cost storage too: the global hard limit applies, and a tip takes a bounded
        # number of reporter messages a day (a receipt is all it takes to send them).
        flood.check_rate_limit(db, _flood_settings(), flood.SUBMISSION)
    except flood.FloodError as error:
        flash(_flood_message(error), "error")
        return _render_followup(form, 429)
    if services.reporter_messages_today(db, opened.tip_id) >= services.MESSAGES_PER_DAY:
        flash(_("今天已经补充了很多次。请明天再补充，您写的内容还在。"), "error")
        return _render_followup(form, 429)
    refused = drafts.check_message_uploads(db)
    if refused:
        return _render_followup(form, 400, refused)
    try:
        message = services.add_message(db, opened.tip_id, opened.data_key, form.message.data or "",
                                       services.AUTHOR_REPORTER)
        results = drafts.attach_message_uploads(db, opened.tip_id, opened.data_key, message.id)
        if any(not r.accepted for r in results):
            # One step here: a refused file means nothing of this message is stored.
            db.rollback()
            return _render_followup(form, 400, results)
        if _flood_settings().enabled:
            _count(db, flood.SUBMISSION)
        db.commit()
    except SQLAlchemyError:
        db.rollback()
        log.exception("storing a reporter message failed")
        flash(_("补充内容没有保存成功，请稍后再试。您写的内容还在。"), "error")
        return _render_followup(form, 503)
    if results:
        flash(_("补充内容和%(count)s个附件已发送。", count=len(results)), "ok")
        return redirect(url_for("reporting.followup"), code=303)
    flash(_("补充内容已发送。"), "ok")
    return redirect(url_for("reporting.followup"), code=303)


@bp.post("/followup/logout")
def followup_logout():
    # Ends the session even if the token expired: leaving must always work.
    EmptyForm().validate()
    session.clear()
    session.regenerate()  # the old row (and the tip key in it) is deleted, not just emptied
    flash(_("已退出。回执码请继续妥善保管。"), "ok")
    return redirect(url_for("reporting.followup_login"), code=303)
