"""The triage queue and the tip detail. Views bind a form, call one service, commit once."""

from urllib.parse import parse_qsl

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from app import clock
from app.analytics import services as analytics
from app.db import get_session
from app.formtools import choices
from app.inspectors import auth
from app.inspectors.views import flash_expired
from app.reporting.models import Tip
from app.reporting.taxonomy import FREQUENCIES, IMPOSER_LEVELS, STATUSES
from app.retention import services as retention
from app.triage import services
from app.triage.forms import (
    AssignForm,
    BulkForm,
    DuplicateForm,
    NoteForm,
    QueueFilterForm,
    ReplyForm,
    StatusForm,
    TagsForm,
)

bp = Blueprint("triage", __name__)

_QUEUE_QUERY = "queue_query"
_QUERY_MAX = 1000


def _assignee_id(value: str | None) -> int | None:
    # Optional() lets a blank (even whitespace-only) choice through as "nobody".
    return int(value) if value is not None and value.strip() else None


def _me():
    me = auth.current_inspector()
    assert me is not None  # every view here is behind login_required
    return me


def _assignee_choices(db, key_ids, *, any_label=None):
    people = services.colleagues(db, key_ids)
    pairs = [("", any_label)] if any_label is not None else [("", _("（未指派）"))]
    if any_label is not None:
        pairs.append(("none", _("未指派")))
    pairs += [(str(p.id), p.username) for p in people]
    return choices(pairs)


_QUEUE_ARGS = ("status", "burden", "region", "assignee", "office", "date_from", "date_to", "sort", "page", "lang")


def _queue_args(pairs) -> dict[str, str]:
    return {k: v for k, v in pairs if k in _QUEUE_ARGS and v not in (None, "")}


def _queue_url(**changes) -> str:
    """The queue with the current filters, some of them changed (None removes one)."""
    args = _queue_args(request.args.items())
    args.update({k: str(v) for k, v in changes.items() if v is not None})
    for k, v in changes.items():
        if v is None:
            args.pop(k, None)
    return url_for("triage.queue", **_queue_args(args.items()))  # type: ignore[arg-type]


def back_to_queue_url() -> str:
    """Back to the queue as it was last shown: same filters, same page."""
    return url_for("triage.queue", **_queue_args(parse_qsl(session.get(_QUEUE_QUERY) or "")))  # type: ignore[arg-type]


@bp.get("/")
@auth.login_required
def queue():
    db = get_session()
    keys = auth.office_keys()
    me = _me()
    form = QueueFilterForm(formdata=request.args)
    offices = services.offices_for_keys(db, keys)
    form.office.choices = choices([("", _("全部")), *((o.code, o.name) for o in offices)])
    form.assignee.choices = _assignee_choices(db, set(keys), any_label=_("全部"))
    form.validate()

    def valid(field, default=None):
        return default if field.errors or field.data in (None, "") else field.data

    office_code = valid(form.office)
    filters = services.QueueFilters(
        status=valid(form.status, ""),
        burden=valid(form.burden, ""),
        region=valid(form.region, ""),
        assignee=valid(form.assignee, ""),
        office_id=next((o.id for o in offices if o.code == office_code), None),
        date_from=valid(form.date_from),
        date_to=valid(form.date_to),
        sort=valid(form.sort, "date_desc"),
        page=valid(form.page, 1),
    )
    page = services.queue(db, keys, filters, holder=auth.index_holder())
    services.record_queue_view(db, me.id, page)
    db.commit()
    query = request.query_string.decode("utf-8", "replace")
    session[_QUEUE_QUERY] = query if len(query) <= _QUERY_MAX else ""
    bulk = BulkForm(formdata=None)
    bulk.assignee.choices = _assignee_choices(db, set(keys))
    names = services.inspector_names(db, {row.tip.assignee_id for row in page.rows})
    deletions = retention.warning_ids(db, clock.today(), [o.id for o in offices])
    return render_template("inspector/triage/queue.html", form=form, page=page, bulk=bulk, names=names,
                           statuses=STATUSES, queue_url=_queue_url, filters=filters,
                           show_office=len(offices) > 1, offices={o.id: o for o in offices},
                           deletions=deletions)


@bp.post("/bulk")
@auth.login_required
def bulk():
    db = get_session()
    keys = auth.office_keys()
    form = BulkForm()
    form.assignee.choices = _assignee_choices(db, set(keys))
    if not form.validate():
        if form.csrf_token.errors:
            flash_expired()
        else:
            flash(_("批量操作的内容无效，请检查。"), "error")
        return _render_bulk_error(form)
    tip_ids = [t for t in (form.tip_ids.data or []) if isinstance(t, str)][:500]
    action = request.form.get("action", "")
    try:
        if action == "status":
            if not form.status.data:
                raise services.TriageError(_("请选择要改成的状态。"))
            changed = services.bulk_status(db, tip_ids, keys, _me().id, form.status.data, form.reason.data)
        elif action == "assign":
            assignee = _assignee_id(form.assignee.data)
            changed = services.bulk_assign(db, tip_ids, keys, _me().id, assignee)
        else:
            raise services.TriageError(_("请选择批量操作。"))
    except services.TriageError as error:
        db.rollback()
        flash(str(error), "error")
        return _render_bulk_error(form)
    db.commit()
    flash(_("已更新 %(count)d 条线索。", count=changed), "ok")
    return redirect(back_to_queue_url(), code=303)


def _render_bulk_error(form: BulkForm):
    """A failed bulk action: the queue is a GET page, so show the form again on its own page with
    what was chosen, instead of losing it."""
    db = get_session()
    keys = auth.office_keys()
    tips = []
    for tip_id in (form.tip_ids.data or [])[:500]:
        try:
            tips.append(services.find_tip(db, tip_id, keys))
        except services.TipNotFound:
            continue
    return render_template("inspector/triage/bulk.html", bulk=form, tips=tips,
                           back_url=back_to_queue_url()), 400


# ---------------------------------------------------------------------------------------------
# One tip


def _visible_tip(tip_id: str) -> Tip:
    try:
        return services.find_tip(get_session(), tip_id, auth.office_keys())
    except services.TipNotFound:
        abort(404)


def _render_detail(tip: Tip, status: int = 200, **forms):
    db = get_session()
    keys = auth.office_keys()
    try:
        detail = services.tip_detail(db, tip, keys, _me().id)
        related = analytics.related_tips(db, tip, detail.content, keys, actor_id=_me().id)
    except services.TipNotFound:
        db.rollback()
        abort(404)
    db.commit()
    assign_form = forms.get("assign_form") or AssignForm(formdata=None, assignee=str(tip.assignee_id or ""))
    assign_form.assignee.choices = _assignee_choices(db, {tip.office_key_id})
    status_form = forms.get("status_form") or StatusForm(
        formdata=None, status=tip.status if tip.status != "duplicate" else "verifying", outcome=detail.outcome or "")
    return render_template(
        "inspector/triage/tip.html",
        d=detail,
        tip=tip,
        related=related,
        attachments=detail.attachments,
        deletion_on=retention.deletion_date_of(db, tip),
        status_form=status_form,
        assign_form=assign_form,
        tags_form=forms.get("tags_form") or TagsForm(formdata=None, tags="，".join(detail.tags)),
        duplicate_form=forms.get("duplicate_form") or DuplicateForm(formdata=None),
        note_form=forms.get("note_form") or NoteForm(formdata=None),
        reply_form=forms.get("reply_form") or ReplyForm(formdata=None),
        back_url=back_to_queue_url(),
        levels=dict(IMPOSER_LEVELS),
        frequencies=dict(FREQUENCIES),
    ), status


@bp.get("/tips/<tip_id>")
@auth.login_required
def tip(tip_id: str):
    return _render_detail(_visible_tip(tip_id))


def _failed(tip: Tip, form_name: str, form, message: str | None = None):
    db = get_session()
    db.rollback()
    if form.csrf_token.errors:
        flash_expired()
    elif message:
        flash(message, "error")
    return _render_detail(tip, 400, **{form_name: form})


def _done(tip: Tip, message: str):
    get_session().commit()
    flash(message, "ok")
    return redirect(url_for("triage.tip", tip_id=tip.id), code=303)


@bp.post("/tips/<tip_id>/status")
@auth.login_required
def change_status(tip_id: str):
    tip = _visible_tip(tip_id)
    form = StatusForm()
    if not form.validate():
        return _failed(tip, "status_form", form)
    db, keys, me = get_session(), auth.office_keys(), _me()
    try:
        changed = services.change_status(db, tip, keys, me.id, form.status.data, form.reason.data)
        outcome_changed = services.set_outcome(db, tip, keys, me.id, form.outcome.data)
    except services.TriageError as error:
        form.reason.errors = [str(error)]
        return _failed(tip, "status_form", form)
    if not (changed or outcome_changed):
        return _done(tip, _("没有变化。"))
    return _done(tip, _("状态和处理结果说明已保存。"))


@bp.post("/tips/<tip_id>/assign")
@auth.login_required
def assign(tip_id: str):
    tip = _visible_tip(tip_id)
    db = get_session()
    form = AssignForm()
    form.assignee.choices = _assignee_choices(db, {tip.office_key_id})
    if not form.validate():
        return _failed(tip, "assign_form", form)
    try:
        services.assign(db, tip, _me().id, _assignee_id(form.assignee.data))
    except services.TriageError as error:
        return _failed(tip, "assign_form", form, str(error))
    return _done(tip, _("承办人已更新。"))


@bp.post("/tips/<tip_id>/tags")
@auth.login_required
def tags(tip_id: str):
    tip = _visible_tip(tip_id)
    form = TagsForm()
    if not form.validate():
        return _failed(tip, "tags_form", form)
    try:
        services.set_tags(get_session(), tip, auth.office_keys(), _me().id, form.tags.data)
    except services.TriageError as error:
        form.tags.errors = [str(error)]
        return _failed(tip, "tags_form", form)
    return _done(tip, _("标签已保存。"))


@bp.post("/tips/<tip_id>/duplicate")
@auth.login_required
def duplicate(tip_id: str):
    tip = _visible_tip(tip_id)
    form = DuplicateForm()
    if not form.validate():
        return _failed(tip, "duplicate_form", form)
    try:
        services.mark_duplicate(get_session(), tip, auth.office_keys(), _me().id, form.original.data,
                                form.reason.data)
    except services.TriageError as error:
        form.original.errors = [str(error)]
        return _failed(tip, "duplicate_form", form)
    return _done(tip, _("已标记为重复，并与原线索关联。"))


@bp.post("/tips/<tip_id>/notes")
@auth.login_required
def note(tip_id: str):
    tip = _visible_tip(tip_id)
    form = NoteForm()
    if not form.validate():
        return _failed(tip, "note_form", form)
    try:
        services.add_note(get_session(), tip, auth.office_keys(), _me().id, form.body.data)
    except services.TriageError as error:
        form.body.errors = [str(error)]
        return _failed(tip, "note_form", form)
    return _done(tip, _("内部备注已保存。"))


@bp.post("/tips/<tip_id>/reply")
@auth.login_required
def reply(tip_id: str):
    tip = _visible_tip(tip_id)
    form = ReplyForm()
    if not form.validate():
        return _failed(tip, "reply_form", form)
    try:
        services.reply(get_session(), tip, auth.office_keys(), _me().id, form.body.data)
    except services.TriageError as error:
        form.body.errors = [str(error)]
        return _failed(tip, "reply_form", form)
    return _done(tip, _("回复已发送。来源凭回执码可以看到。"))
