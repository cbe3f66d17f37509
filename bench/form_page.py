"""What a reporter's phone downloads for the tip form, and whether any byte comes from elsewhere.

    .venv/bin/python -m bench.form_page

Serves the reporter site with gunicorn on 127.0.0.1, loads the landing page and the tip form in
Chromium (JavaScript off and on, a 360 px phone viewport, empty cache), and counts every request:
bytes transferred (headers and bodies, uncompressed: the worst case without a compressing proxy)
against the 60 KB ceiling, and requests to any other host against zero.
"""

from urllib.parse import urlsplit

from bench.common import ADMIN_PASSWORD, cleanup, free_port, gunicorn, new_data_dir, report, tipline

CEILING = 60 * 1024
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def measure(base: str, path: str, javascript: bool) -> tuple[int, list[str], int]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(java_script_enabled=javascript, viewport={"width": 360, "height": 740},
                                      is_mobile=True, locale="zh-CN")
        page = context.new_page()
        requests: list[str] = []
        sizes: list[int] = []

        def on_response(response) -> None:
            try:
                body = len(response.body())
            except Exception:  # noqa: BLE001 (a redirect or an aborted response has no body)
                body = 0
            headers = sum(len(k) + len(v) + 4 for k, v in response.headers.items()) + 20
            sizes.append(body + headers)

        page.on("request", lambda request: requests.append(request.url))
        page.on("response", on_response)
        page.goto(base + path, wait_until="networkidle")
        browser.close()
    host = urlsplit(base).netloc
    elsewhere = [url for url in requests if urlsplit(url).netloc != host and not url.startswith("data:")]
    return sum(sizes), elsewhere, len(requests)


def main() -> None:
    data_dir = new_data_dir()
    try:
        tipline(data_dir, "init", "--admin", "admin", "--json", stdin=ADMIN_PASSWORD + "\n")
        port = free_port()
        server = gunicorn("app.wsgi:reporter", port, data_dir, workers=1)
        try:
            base = f"http://127.0.0.1:{port}"
            for path in ("/", "/tip"):
                for javascript in (False, True):
                    size, elsewhere, count = measure(base, path, javascript)
                    label = f"reporter {path} ({'JS on' if javascript else 'JS off'}, {count} requests)"
                    report(label, f"{size / 1024:.1f} KB = {size / CEILING:.0%} of ceiling", "60 KB",
                           size <= CEILING)
                    report(f"  requests to other hosts {path}", str(len(elsewhere)), "0", not elsewhere)
        finally:
            server.stop()
    finally:
        cleanup(data_dir)


if __name__ == "__main__":
    main()
