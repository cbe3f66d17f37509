from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DecimalField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from app.formtools import choices
from app.reporting.taxonomy import BURDEN_TYPES, FREQUENCIES, IMPOSER_LEVELS

DESCRIPTION_MAX = 20000
HOURS_MESSAGE = _l("请填写0到168之间的数字（一周共168小时）。")


class HoursField(DecimalField):
    """Decimal() reads "NaN", "sNaN" and "Infinity" as numbers; none is a number of hours.
    A signalling NaN would even make WTForms' NumberRange raise (a 500): refuse them all here."""

    def process_formdata(self, valuelist: list) -> None:
        super().process_formdata(valuelist)  # raises unless valuelist[0] is a Decimal
        if valuelist and not Decimal(valuelist[0]).is_finite():
            self.data = None
            raise ValueError(HOURS_MESSAGE)


class TipForm(FlaskForm):
    office = SelectField(_l("受理单位"), choices=[], validate_choice=True)
    burden_types = SelectMultipleField(
        _l("负担类型"),
        choices=choices((b.code, b.label) for b in BURDEN_TYPES),
        validators=[DataRequired(message=_l("请至少选择一种负担类型。"))],
    )
    platform = StringField(_l("平台、APP或工作群名称"), validators=[Optional(), Length(max=200, message=_l("最多200个字。"))])
    imposer_level = SelectField(
        _l("谁要求的（层级）"),
        choices=choices([("", _l("请选择")), *IMPOSER_LEVELS]),
        validators=[Optional()],
    )
    imposer_name = StringField(_l("要求单位名称（可不填）"), validators=[Optional(), Length(max=200, message=_l("最多200个字。"))])
    frequency = SelectField(
        _l("多久一次"),
        choices=choices([("", _l("请选择")), *FREQUENCIES]),
        validators=[Optional()],
    )
    hours_per_week = HoursField(
        _l("大约每周占用几小时"),
        places=1,
        validators=[Optional(), NumberRange(min=0, max=168, message=HOURS_MESSAGE)],
    )
    region = StringField(_l("地区（可不填）"), validators=[Optional(), Length(max=100, message=_l("最多100个字。"))])
    description = TextAreaField(
        _l("经过"),
        validators=[
            InputRequired(message=_l("请写下发生了什么。")),
            Length(max=DESCRIPTION_MAX, message=_l("最多20000个字，请删减后再提交。")),
        ],
    )
    # Guards against a double click or a reload sending the same tip twice.
    submission_nonce = HiddenField()
    # Honeypot: hidden from people (and labelled "leave empty" for screen readers); bots fill it.
    website = StringField(_l("请勿填写此栏"), validators=[Optional(), Length(max=0, message=_l("请清空“请勿填写此栏”一栏后再提交。"))])

    def validate_description(self, field: TextAreaField) -> None:
        if not (field.data or "").strip():
            raise ValidationError(_l("请写下发生了什么。"))

    class Meta:
        # Field errors name the field; a stale form must never throw away what was typed.
        csrf_field_name = "csrf_token"


class ConfirmReceiptForm(FlaskForm):
    last_group = StringField(_l("回执码的最后四位"), validators=[InputRequired(message=_l("请输入回执码的最后四位。"))])


class FollowupLoginForm(FlaskForm):
    receipt = StringField(_l("回执码"), validators=[InputRequired(message=_l("请输入回执码。")), Length(max=200)])


class MessageForm(FlaskForm):
    message = TextAreaField(
        _l("补充说明"),
        validators=[
            InputRequired(message=_l("请写下要补充的内容。")),
            Length(max=DESCRIPTION_MAX, message=_l("最多20000个字，请删减后再提交。")),
        ],
    )


class EmptyForm(FlaskForm):
    """A form with only the CSRF token, for buttons that change state (log out)."""
