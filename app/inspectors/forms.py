from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length

from app.inspectors.services import PASSWORD_MIN, USERNAME_MAX

PASSWORD_MAX = 1024


class LoginForm(FlaskForm):
    # Field names are part of the scripting contract: username, password, totp.
    username = StringField(_l("用户名"), validators=[InputRequired(message=_l("请填写用户名。")),
                                                   Length(max=USERNAME_MAX)])
    password = PasswordField(_l("密码"), validators=[InputRequired(message=_l("请填写密码。")),
                                                   Length(max=PASSWORD_MAX)])
    totp = StringField(_l("动态码"), validators=[InputRequired(message=_l("请填写动态码。")), Length(max=20)])


class LogoutForm(FlaskForm):
    """Only the CSRF token: logging out changes state."""


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("当前密码"), validators=[InputRequired(message=_l("请填写当前密码。")),
                                                               Length(max=PASSWORD_MAX)])
    new_password = PasswordField(_l("新密码"), validators=[
        InputRequired(message=_l("请填写新密码。")),
        Length(min=PASSWORD_MIN, max=PASSWORD_MAX, message=_l("密码至少12个字符。")),
    ])
    new_password2 = PasswordField(_l("再输一遍新密码"), validators=[
        InputRequired(message=_l("请再输一遍新密码。")),
        EqualTo("new_password", message=_l("两次输入的密码不一致。")),
    ])


class SetupForm(FlaskForm):
    username = StringField(_l("管理员用户名"), validators=[InputRequired(message=_l("请填写用户名。")),
                                                       Length(max=USERNAME_MAX, message=_l("最多64个字符。"))])
    password = PasswordField(_l("密码"), validators=[
        InputRequired(message=_l("请填写密码。")),
        Length(min=PASSWORD_MIN, max=PASSWORD_MAX, message=_l("密码至少12个字符。")),
    ])
    password2 = PasswordField(_l("再输一遍密码"), validators=[
        InputRequired(message=_l("请再输一遍密码。")),
        EqualTo("password", message=_l("两次输入的密码不一致。")),
    ])
    totp = StringField(_l("验证器应用显示的6位动态码"), validators=[
        InputRequired(message=_l("请填写动态码。")), Length(max=20)])


class StoredConfirmForm(FlaskForm):
    stored = BooleanField(_l("我已把恢复密钥抄写或打印，并离线保存在安全的地方。"),
                          validators=[DataRequired(message=_l("请确认已保存恢复密钥。"))])
