import pytest

from app.reporting.identifiers import find_identifying_details
from tests.conftest import csrf_token


def kinds(text: str) -> set[str]:
    return {f.kind for f in find_identifying_details(text)}


@pytest.mark.parametrize(("text", "kind"), [
    ("我的身份证是11010519491231002X", "resident_id"),
    ("身份证 110105194912310029 号", None),  # wrong checksum: not flagged as an ID
    ("电话13812345678", "mobile"),
    ("打 +86 138-1234-5678 找我", "mobile"),
    ("邮箱 zhang.san@example.com", "email"),
    ("车牌豫P12345停在门口", "plate"),
    ("新能源车牌粤B D12345", "plate"),
    ("粤B·D1234挂", "plate"),
    ("我们马家村的情况", "small_unit"),
    ("城关镇第三村民小组", "small_unit"),
    ("１３８１２３４５６７８", "mobile"),  # full-width digits
])
def test_detects_identifying_details(text, kind):
    found = kinds(text)
    if kind is None:
        assert "resident_id" not in found and "plate" not in found
    else:
        assert kind in found


def test_plain_text_has_no_findings():
    assert find_identifying_details("每天要打卡，积分排名靠后要写检讨。平台要求500学时。") == []
    assert find_identifying_details("农村工作组每个村都要报，领导小组和督导组也要") == []


def test_small_unit_is_trimmed_to_its_name():
    assert [f.text for f in find_identifying_details("我们马家村的情况")] == ["马家村"]


def test_preview_warns_but_does_not_block(reporting, reporter):
    fields = reporting.form_fields(description="联系我：13812345678，身份证11010519491231002X")
    page = reporter.post("/tip", data={**fields, "action": "preview"}).get_data(as_text=True)
    assert 'id="identifying-details"' in page
    assert "手机号码" in page and "身份证号码" in page
    assert 'value="send"' in page
    assert csrf_token(page)
