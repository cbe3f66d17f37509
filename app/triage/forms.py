from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from app.formtools import choices
from app.reporting.taxonomy import BURDEN_TYPES, STATUS_LABELS, STATUSES
from app.triage.services import REASON_MAX, TEXT_MAX, TIP_ID_MAX

SORT_CHOICES = (("date_desc", _l("收到日期（新的在前）")), ("date_asc", _l("收到日期（旧的在前）")),
                ("status", _l("状态")))
# 重复 needs the tip it repeats: it is set with the duplicate form, not chosen from a list.
SETTABLE_STATUSES = [s for s in STATUSES if s != "duplicate"]


def status_choices(statuses, empty_label=None):
    pairs = [(s, STATUS_LABELS[s]) for s in statuses]
    if empty_label is not None:
        pairs.insert(0, ("", empty_label))
    return choices(pairs)


class QueueFilterForm(FlaskForm):
    """The queue's filters live in the URL (GET), so a filtered queue can be bookmarked and shared."""

    class Meta:
        csrf = False

    status = SelectField(_l("状态"), choices=status_choices(STATUSES, _l("全部")), validators=[Optional()])
    burden = SelectField(_l("负担类型"), choices=choices([("", _l("全部")), *((b.code, b.label) for b in BURDEN_TYPES)]),
                         validators=[Optional()])
    region = StringField(_l("地区包含"), validators=[Optional(), Length(max=100)])
    assignee = SelectField(_l("承办人"), choices=[], validators=[Optional()])
    office = SelectField(_l("受理单位"), choices=[], validators=[Optional()])
    date_from = DateField(_l("收到日期从"), validators=[Optional()])
    date_to = DateField(_l("到"), validators=[Optional()])
    sort = SelectField(_l("排序"), choices=choices(SORT_CHOICES), validators=[Optional()])
    page = IntegerField(_l("页"), validators=[Optional(), NumberRange(min=1, max=1_000_000)])


class BulkForm(FlaskForm):
    tip_ids = SelectMultipleField(_l("线索"), choices=[], validate_choice=False)
    status = SelectField(_l("改为状态"), choices=status_choices(SETTABLE_STATUSES, _l("（不改）")),
                         validators=[Optional()])
    reason = TextAreaField(_l("变更理由"), validators=[Optional(), Length(max=REASON_MAX)])
    assignee = SelectField(_l("指派给"), choices=[], validators=[Optional()])


class StatusForm(FlaskForm):
    status = SelectField(_l("状态"), choices=status_choices(SETTABLE_STATUSES), validators=[InputRequired()])
    reason = TextAreaField(_l("变更理由（内部记录）"), validators=[Optional(), Length(max=REASON_MAX)])
    outcome = TextAreaField(_l("处理结果说明（来源凭回执码可以看到）"), validators=[Optional(), Length(max=TEXT_MAX)])


class AssignForm(FlaskForm):
    assignee = SelectField(_l("承办人"), choices=[], validators=[Optional()])


class TagsForm(FlaskForm):
    tags = StringField(_l("标签（用逗号分隔）"), validators=[Optional(), Length(max=1000)])


class DuplicateForm(FlaskForm):
    original = StringField(_l("原线索编号"), validators=[InputRequired(message=_l("请填写原线索编号。")),
                                                    Length(max=TIP_ID_MAX)])
    reason = TextAreaField(_l("理由"), validators=[Optional(), Length(max=REASON_MAX)])


class NoteForm(FlaskForm):
    body = TextAreaField(_l("内部备注（来源看不到）"), validators=[InputRequired(message=_l("请写下备注内容。")),
                                                          Length(max=TEXT_MAX)])


class ReplyForm(FlaskForm):
    body = TextAreaField(_l("回复来源（来源凭回执码可以看到）"), validators=[
        InputRequired(message=_l("请写下回复内容。")), Length(max=TEXT_MAX)])
