def test_submit_and_follow_up(reporting, reporter):
    receipt = reporting.submit()
    assert len(receipt) == 20 and receipt.isdigit()
    opened = reporting.open(receipt)
    assert opened.status_code == 303
    page = reporter.get("/followup/tip").get_data(as_text=True)
    assert "新线索" in page
    assert "网格通APP" in page
