from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, PasswordField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.inspectors.forms import PASSWORD_MAX
from app.inspectors.services import PASSWORD_MIN, USERNAME_MAX


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _password_fields():
    return (
        PasswordField(_l("初始密码（请当面或电话告知本人，首次登录后修改）"), validators=[
            InputRequired(message=_l("请填写密码。")),
            Length(min=PASSWORD_MIN, max=PASSWORD_MAX, message=_l("密码至少12个字符。"))]),
        PasswordField(_l("再输一遍密码"), validators=[
            InputRequired(message=_l("请再输一遍密码。")),
            EqualTo("password", message=_l("两次输入的密码不一致。"))]),
    )


class NewInspectorForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[InputRequired(message=_l("请填写用户名。")),
                                                   Length(max=USERNAME_MAX, message=_l("最多64个字符。"))])
    password, password2 = _password_fields()
    is_admin = BooleanField(_l("管理员（可以管理账户和单位）"))
    offices = CheckboxesField(_l("可查看的受理单位"), choices=[])


class GrantsForm(FlaskForm):
    offices = CheckboxesField(_l("可查看的受理单位"), choices=[])


class ResetPasswordForm(FlaskForm):
    password, password2 = _password_fields()


class EmptyForm(FlaskForm):
    """Only the CSRF token, for buttons that change state."""


class ConfirmForm(FlaskForm):
    confirm = BooleanField(_l("我确认"), validators=[DataRequired(message=_l("请勾选确认。"))])


class NewOfficeForm(FlaskForm):
    code = StringField(_l("单位代码（小写字母、数字、- 和 _）"), validators=[
        InputRequired(message=_l("请填写单位代码。")), Length(max=64, message=_l("最多64个字符。"))])
    name = StringField(_l("单位名称（来源在表单里看到的名称）"), validators=[
        InputRequired(message=_l("请填写单位名称。")), Length(max=200, message=_l("最多200个字。"))])


class RecoverForm(FlaskForm):
    recovery_key = StringField(_l("恢复密钥"), validators=[InputRequired(message=_l("请填写恢复密钥。")),
                                                       Length(max=200)])


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False

    action = StringField(_l("操作"), validators=[Optional(), Length(max=64)])
    page = IntegerField(_l("页"), validators=[Optional(), NumberRange(min=1, max=1_000_000)])
