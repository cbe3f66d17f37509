"""The inspector site's dashboard: aggregates, CSV exports, and publishing a month to the public page."""

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app import clock
from app.analytics import charts, export, publishing, services
from app.analytics.forms import PublishForm
from app.audit import services as audit
from app.db import get_session
from app.inspectors import auth
from app.inspectors.views import flash_expired
from app.offices.models import Office
from app.reporting.taxonomy import BURDEN_TYPES, STATUSES
from app.triage.services import offices_for_keys

bp = Blueprint("analytics", __name__, url_prefix="/analytics")

PLATFORM_CHART_LIMIT = 15


def _me():
    me = auth.current_inspector()
    assert me is not None  # behind login_required
    return me


def _offices() -> list[Office]:
    return offices_for_keys(get_session(), auth.office_keys())


def _filter_args() -> dict[str, str]:
    """What was typed into the filter form, to show it again (escaped by the template)."""
    return {name: str(request.args.get(name, ""))[:64] for name in ("date_from", "date_to", "office")}


def _render(dashboard: services.Dashboard | None, offices: list[Office], errors: list[str], status: int = 200):
    me = _me()
    context = {}
    if me.is_admin and dashboard is not None:
        context = {"published": publishing.published(get_session()),
                   "publishable_months": publishing.closed_months(clock.today()),
                   "offices_by_id": {str(o.id): o for o in offices}}
    return render_template(
        "inspector/analytics/dashboard.html", d=dashboard, errors=errors, offices=offices,
        args=_filter_args(), charts=charts, exports=export.EXPORTS, hours_cap=services.HOURS_CAP,
        platform_limit=PLATFORM_CHART_LIMIT, **context,
    ), status


def _filtered() -> tuple[services.Filters | None, list[Office], list[str]]:
    offices = _offices()
    filters, errors = services.parse_filters(request.args, offices)
    return (None if errors else filters), offices, errors


@bp.get("/")
@auth.login_required
def dashboard():
    filters, offices, errors = _filtered()
    if filters is None:
        return _render(None, offices, errors, 400)
    db = get_session()
    data = services.dashboard(db, auth.office_keys(), filters)
    services.record_view(db, _me().id, filters)
    db.commit()
    return _render(data, offices, [])


@bp.get("/export/<name>.csv")
@auth.login_required
def export_csv(name: str):
    if name not in export.EXPORTS:
        return _render(None, _offices(), [_("没有这项统计。")], 404)
    filters, offices, errors = _filtered()
    if filters is None:
        return _render(None, offices, errors, 400)
    db = get_session()
    data = services.dashboard(db, auth.office_keys(), filters)
    body = export.export(data, name)
    audit.record(db, audit.TIP_EXPORT, actor_id=_me().id, target=name,
                 detail={"aggregate": name, **filters.audit_detail()})
    db.commit()
    return Response(body, mimetype="text/csv", headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{export.filename(name, data)}"',
    })


# ---------------------------------------------------------------------------------------------
# Publishing a month to the transparency page (administrators)


def _scope_office(scope: str, offices: list[Office]) -> tuple[bool, Office | None]:
    """(valid, office): "all" or the id of an office whose key the session holds."""
    if scope == publishing.ALL:
        return True, None
    office = next((o for o in offices if str(o.id) == scope), None)
    return office is not None, office


def _render_publish(month: str, scope: str, *, form: PublishForm | None = None, status: int = 200):
    """The preview of a month, with the form that confirms it; or, when it cannot be published,
    the message (already flashed) and the month chooser again, with `status` 400."""
    offices = _offices()
    valid, office = _scope_office(scope, offices)
    shown = None
    if not valid:
        flash(_("没有这个受理单位，或您没有它的密钥。"), "error")
    else:
        db = get_session()
        try:
            shown = publishing.preview(db, auth.office_keys(), month, office)
        except publishing.PublishError as error:
            db.rollback()
            flash(str(error), "error")
    if shown is None:
        status = 400
    elif status == 200:
        db = get_session()
        audit.record(db, services.ANALYTICS_VIEW, actor_id=_me().id,
                     detail={"publish_preview": shown.month, "office": office.code if office else publishing.ALL})
        db.commit()
    if form is None or shown is None:
        form = PublishForm(formdata=None, month=shown.month if shown else "", scope=scope)
    return render_template("inspector/analytics/publish.html", preview=shown, form=form, offices=offices,
                           publishable_months=publishing.closed_months(clock.today()),
                           burden_types=BURDEN_TYPES, statuses=STATUSES, suppressed=publishing.SUPPRESSED), status


@bp.get("/publish")
@auth.admin_required
def publish_preview():
    return _render_publish(str(request.args.get("month", ""))[:16], str(request.args.get("scope", publishing.ALL))[:64])


@bp.post("/publish")
@auth.admin_required
def publish():
    form = PublishForm()
    month, scope = (form.month.data or "")[:16], (form.scope.data or publishing.ALL)[:64]
    if not form.validate():
        if form.csrf_token.errors:
            flash_expired()
        else:
            flash(_("发布请求无效，请重新选择月份。"), "error")
        return _render_publish(month, scope, form=form, status=400)
    valid, office = _scope_office(scope, _offices())
    if not valid:
        return _render_publish(month, scope, status=400)
    db = get_session()
    try:
        row, others = publishing.publish(db, auth.office_keys(), month, office, _me().id)
    except publishing.PublishError as error:
        db.rollback()
        flash(str(error), "error")
        return _render_publish(month, scope, status=400)
    db.commit()
    flash(_("已发布 %(month)s 的统计到公开页面。", month=row.month), "ok")
    if others:
        flash(_("同月另一种范围（全部单位/单个单位）的数据已撤下，以免相减推算出小于5的数字。"), "ok")
    return redirect(url_for("analytics.dashboard") + "#publish", code=303)
