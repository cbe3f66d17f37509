def test_login_queue_detail_reply(inspector, reporting, reporter, inspector_client):
    receipt = reporting.submit()
    r = inspector.login()
    assert r.status_code == 303, r.get_data(as_text=True)[:3000]
    page = inspector_client.get("/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html[:3000]
    assert "网格通APP" in html
    import re
    tip_id = re.search(r'href="/tips/([^"]+)"', html).group(1)
    detail = inspector_client.get(f"/tips/{tip_id}")
    assert detail.status_code == 200, detail.get_data(as_text=True)[:3000]
    r = inspector.post(f"/tips/{tip_id}", f"/tips/{tip_id}/reply", {"body": "收到，正在核实。"})
    assert r.status_code == 303, r.get_data(as_text=True)[:3000]
    r = inspector.post(f"/tips/{tip_id}", f"/tips/{tip_id}/status",
                       {"status": "verifying", "reason": "开始核查", "outcome": "已联系县里。"})
    assert r.status_code == 303, r.get_data(as_text=True)[:3000]
    reporting.open(receipt)
    page = reporter.get("/followup/tip").get_data(as_text=True)
    assert "收到，正在核实。" in page and "核查中" in page and "已联系县里。" in page
