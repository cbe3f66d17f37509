"""The reporter site's transparency page: what administrators published, and nothing else.

It reads only the `published_months` table (already suppressed) — never a tip — so it needs no
key, no login and no session, and has nothing per tip to leak.
"""

from flask import Blueprint, render_template

from app.analytics import publishing
from app.db import get_session
from app.reporting.taxonomy import BURDEN_TYPES, STATUS_LABELS, STATUSES

bp = Blueprint("transparency", __name__)


@bp.get("/transparency")
def page():
    months = publishing.published(get_session())
    return render_template("transparency/page.html", months=months, burden_types=BURDEN_TYPES,
                           statuses=STATUSES, status_labels=STATUS_LABELS, suppressed=publishing.SUPPRESSED,
                           threshold=publishing.SUPPRESS_BELOW)
