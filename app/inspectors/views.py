"""Inspector site: login, logout, password change and the first-run set-up page."""

from datetime import datetime
from pathlib import Path

import pyotp
import segno
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
from markupsafe import Markup

from app import clock
from app.admin.services import account_message
from app.audit import services as audit
from app.db import get_session
from app.inspectors import auth
from app.inspectors.forms import (
    LoginForm,
    LogoutForm,
    PasswordChangeForm,
    SetupForm,
    StoredConfirmForm,
)
from app.inspectors.login import authenticate, confirm_password, matching_step
from app.inspectors.services import AccountError, change_password
from app.install import services as install
from app.reporting.taxonomy import BURDEN_BY_CODE, STATUS_LABELS

bp = Blueprint("inspectors", __name__)

_SETUP_TOTP = "setup_totp_secret"
_SETUP_RECOVERY = "setup_recovery_key"
TOTP_ISSUER = "Tipline"


def login_failed_message() -> str:
    # One message for every failure: no hint which part was wrong, or whether the account exists.
    return _("用户名、密码或动态码不正确，或账户暂时锁定。请稍后再试。")


def flash_expired() -> None:
    flash(_("页面已失效（停留时间过长或会话已更新），请检查后再次提交。您填写的内容还在。"), "error")


@bp.after_app_request
def _close_transaction(response):
    # Views commit what they change; anything still open here is only reads. Ending it before the
    # session is saved keeps SQLite's single writer free for the session row.
    db = g.get("db_session")
    if db is not None and db.in_transaction():
        db.rollback()
    return response


@bp.app_context_processor
def _inspector_context() -> dict:
    me = auth.current_inspector()
    return {
        "me": me,
        "status_labels": STATUS_LABELS,
        "burden_by_code": BURDEN_BY_CODE,
        # Only for a logged-in page: a form makes a CSRF token, and so a session.
        "logout_form": LogoutForm(formdata=None) if me is not None else None,
    }


@bp.app_template_filter("local_time")
def local_time(epoch: float | None) -> str:
    """Inspector-side times in Asia/Shanghai, to the minute."""
    if epoch is None:
        return ""
    return datetime.fromtimestamp(epoch, clock.TIMEZONE).strftime("%Y-%m-%d %H:%M")


# ---------------------------------------------------------------------------------------------
# Login and logout


def _render_login(form: LoginForm, status: int = 200):
    form.totp.data = ""
    return render_template("inspector/auth/login.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        if auth.current_inspector() is not None:
            return redirect(url_for("triage.queue"))
        return _render_login(form)
    if not form.validate():
        if form.csrf_token.errors:
            flash_expired()
        return _render_login(form, 400)
    db = get_session()
    result = authenticate(db, form.username.data or "", form.password.data or "", form.totp.data or "")
    db.commit()
    if result is None:
        flash(login_failed_message(), "error")
        return _render_login(form, 400)
    auth.start_session(result)
    target = request.args.get("next")
    return redirect(target if auth.is_safe_next(target) else url_for("triage.queue"), code=303)


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    form = LogoutForm()
    if request.method == "GET" or not form.validate():
        if request.method == "POST":
            flash_expired()
        if auth.current_inspector() is None:
            return redirect(url_for("inspectors.login"))
        return render_template("inspector/auth/logout.html", form=form), 400 if request.method == "POST" else 200
    me = auth.current_inspector()
    if me is not None:
        db = get_session()
        audit.record(db, audit.LOGOUT, actor_id=me.id, target=f"inspector:{me.id}")
        db.commit()
    auth.end_session()
    flash(_("已退出。"), "ok")
    return redirect(url_for("inspectors.login"), code=303)


@bp.route("/password", methods=["GET", "POST"])
@auth.login_required
def password():
    form = PasswordChangeForm()
    if request.method == "GET":
        return render_template("inspector/auth/password.html", form=form)
    if not form.validate():
        if form.csrf_token.errors:
            flash_expired()
        return render_template("inspector/auth/password.html", form=form), 400
    me = auth.current_inspector()
    db = get_session()
    private_key = confirm_password(db, me, form.current_password.data or "")
    if private_key is None:
        db.commit()  # the failure's audit row (the attempt was counted before it was tested)
        form.current_password.errors = [_("当前密码不正确，或账户因多次失败暂时锁定。请稍后再试。")]
        return render_template("inspector/auth/password.html", form=form), 400
    try:
        change_password(db, me, private_key, form.new_password.data or "")
    except AccountError as error:
        db.rollback()
        form.new_password.errors = [account_message(error)]
        return render_template("inspector/auth/password.html", form=form), 400
    audit.record(db, audit.PASSWORD_CHANGE, actor_id=me.id, target=f"inspector:{me.id}")
    db.commit()
    auth.refresh_epoch(me)
    flash(_("密码已修改。其他已登录的会话已失效。"), "ok")
    return redirect(url_for("triage.queue"), code=303)


# ---------------------------------------------------------------------------------------------
# First run: the one-time set-up link that `tipline serve` prints


def totp_qr_svg(uri: str) -> Markup:
    # Server-generated from our own otpauth URI (no user input reaches it): safe to inline as SVG.
    return Markup(segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff"))  # noqa: S704


def _setup_secret() -> str:
    secret = session.get(_SETUP_TOTP)
    if not isinstance(secret, str) or len(secret) != 32:
        secret = pyotp.random_base32()
        session[_SETUP_TOTP] = secret
    return secret


def _render_setup(form: SetupForm, token: str, status: int = 200):
    secret = _setup_secret()
    uri = pyotp.TOTP(secret).provisioning_uri(name="administrator", issuer_name=TOTP_ISSUER)
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    form.totp.data = ""
    return render_template("inspector/auth/setup.html", form=form, token=token, qr=totp_qr_svg(uri),
                           secret=grouped), status


@bp.route("/setup/<token>", methods=["GET", "POST"])
def setup(token: str):
    db = get_session()
    if len(token) > 200 or not install.check_setup_token(db, token):
        abort(404)
    form = SetupForm()
    if request.method == "GET":
        return _render_setup(form, token)
    if not form.validate():
        if form.csrf_token.errors:
            flash_expired()
        return _render_setup(form, token, 400)
    secret = _setup_secret()
    step = matching_step(secret, form.totp.data or "", clock.now(), 0)
    if step is None:
        form.totp.errors = [_("动态码不正确。请确认手机时间准确，并输入验证器应用当前显示的6位数字。")]
        return _render_setup(form, token, 400)
    try:
        result = install.initialize(db, form.username.data or "", form.password.data or "",
                                    data_dir=_data_dir(), token=token,
                                    totp_secret=secret)
    except AccountError as error:
        db.rollback()
        form.username.errors = [account_message(error)]
        return _render_setup(form, token, 400)
    admin = result.admin.inspector
    admin.totp_last_step = step  # the code just confirmed cannot be replayed at the first login
    audit.record(db, audit.SETUP_COMPLETE, actor_id=admin.id, target=f"office:{result.office.code}",
                 detail={"admin": admin.username})
    db.commit()
    install.forget_setup_token(_data_dir())
    session.pop(_SETUP_TOTP, None)
    session[_SETUP_RECOVERY] = {"office": result.office.name, "key": result.recovery_key}
    return redirect(url_for("inspectors.setup_recovery_key"), code=303)


def _data_dir() -> Path:
    return Path(current_app.config["DATA_DIR"])


@bp.route("/setup/recovery-key", methods=["GET", "POST"])
def setup_recovery_key():
    """Shown until the admin confirms it was stored, then never again."""
    pending = session.get(_SETUP_RECOVERY)
    if not isinstance(pending, dict):
        return redirect(url_for("inspectors.login"))
    form = StoredConfirmForm()
    if request.method == "POST":
        if form.validate():
            session.pop(_SETUP_RECOVERY, None)
            flash(_("设置完成。请用刚才设置的用户名、密码和动态码登录。"), "ok")
            return redirect(url_for("inspectors.login"), code=303)
        if form.csrf_token.errors:
            flash_expired()
    status = 400 if request.method == "POST" else 200
    return render_template("inspector/auth/recovery_key.html", form=form, office_name=pending.get("office"),
                           recovery_key=pending.get("key"), next_url=None), status
