from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import InputRequired, Length


class PublishForm(FlaskForm):
    """Confirms the publication of a month that the administrator has just previewed."""

    month = HiddenField(_l("月份"), validators=[InputRequired(), Length(max=7)])
    scope = HiddenField(_l("范围"), validators=[InputRequired(), Length(max=64)])
