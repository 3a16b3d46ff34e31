"""The decision viewer (the admin listener's `/`) in a real browser: headless Debian chromium driven by
Selenium, plus the crafted request whose attacker-controlled text the page must show literally.

Why here and not in the test: the driver set-up (no Selenium Manager, no network, console log kept) and
the page's stable hooks (`#rows`, `tr.row[data-request-id]`, `#load-older[data-state]`, `#detail[data-state]`)
are what any browser test of the viewer needs; the test then reads as the issue's steps.
"""

import http.client
import json
import shutil
import ssl
import time
import urllib.parse
from pathlib import Path

from .procs import LabError
from .world import BUCKET_HOST

#: Request-derived text that would run script if the page ever parsed data as HTML.
XSS_PAYLOAD = '"><img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
#: Decisions the `denied` filter stands for (the API's definition).
DENIED = ("ExplicitDeny", "ImplicitDeny", "Refused")
#: Where the screenshots go, relative to the repository root (CI keeps the folder as an artifact).
ARTIFACTS = Path("target") / "e2e-artifacts"
#: Every wait in the browser is bounded by this many seconds.
WAIT = 30


def chrome(width: int = 1280, height: int = 800):
    """Headless chromium with the browser console log kept (`goog:loggingPrefs`).

    Why `Service(executable_path=...)`: with an explicit chromedriver, Selenium Manager never runs, so
    nothing is downloaded; Debian's chromium and chromedriver come from `scripts/install-deps`. A missing
    piece raises `LabError` (a failure, never a skip: CI installs them)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as err:
        raise LabError(f"selenium is not installed ({err}): run scripts/install-deps") from err
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_exe = shutil.which("chromedriver")
    if not browser or not driver_exe:
        raise LabError(
            f"the viewer test needs chromium and chromedriver on PATH (found chromium={browser}, "
            f"chromedriver={driver_exe}): run scripts/install-deps (apt: chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={width},{height}",
                "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-extensions", "--proxy-server=direct://",
                "--proxy-bypass-list=*"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_exe), options=options)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    return driver


class Console:
    """The browser console, collected across pages (`get_log` hands each entry out once).

    Why: a CSP violation or a script error shows only here, as a SEVERE entry."""

    def __init__(self, driver):
        self.driver, self.entries = driver, []

    def collect(self) -> list:
        self.entries += self.driver.get_log("browser")
        return self.entries

    def severe(self) -> list:
        return [e for e in self.collect() if e.get("level") == "SEVERE"]


class Page:
    """One viewer page in `driver`, through its stable DOM hooks (src/admin/viewer/index.html)."""

    def __init__(self, driver, base_url: str):
        self.driver, self.base_url = driver, base_url.rstrip("/")

    def open(self) -> "Page":
        """Loads `/` afresh with no filters (they live in the fragment, and a fragment-only change
        would not reload) and waits until the first page of decisions is in."""
        self.driver.get("about:blank")
        self.driver.get(self.base_url + "/")
        self.wait(lambda d: d.execute_script(
            "const b = document.getElementById('load-older');"
            "return !!b && (b.dataset.state === 'idle' || b.dataset.state === 'end');"
        ), "the first page of decisions to load")
        return self

    def wait(self, condition, what: str, timeout: float = WAIT):
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(condition)
        except TimeoutException:
            raise AssertionError(f"waited {timeout}s for {what}; #live says {self.live()!r}") from None

    def live(self) -> str:
        return self.driver.execute_script("const e = document.getElementById('live'); return e && e.textContent;")

    def rows(self) -> list:
        """Every table row as a dict of its data attributes and text (one script call, not one per row)."""
        return self.driver.execute_script(
            "return Array.from(document.querySelectorAll('#rows tr.row')).map(tr => ({"
            "id: tr.dataset.requestId, decision: tr.dataset.decision, service: tr.dataset.service,"
            "text: tr.textContent}));"
        )

    def row_ids(self) -> set:
        return {r["id"] for r in self.rows()}

    def wait_rows(self, ids, what="rows") -> None:
        """Until a row for each of `ids` is in the table."""
        ids = set(ids)
        self.wait(lambda d: ids <= self.row_ids(), f"{what} {sorted(ids)} to appear")

    def load_all_older(self, max_pages: int = 100) -> None:
        """Clicks "Load older" until the server has nothing older (`#load-older[data-state=end]`)."""
        for _ in range(max_pages):
            state = self.driver.execute_script("return document.getElementById('load-older').dataset.state;")
            if state == "end":
                return
            if state == "idle":
                self.driver.find_element("id", "load-older").click()
            self.wait(lambda d: d.execute_script(
                "return document.getElementById('load-older').dataset.state !== 'loading';"),
                "an older page to load")
        raise AssertionError(f"more than {max_pages} pages of older decisions")

    def set_decision_filter(self, value: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(self.driver.find_element("id", "filter-decision")).select_by_value(value)

    def open_detail(self, request_id: str) -> None:
        """Clicks the row of `request_id` and waits until its explanation is rendered."""
        row = self.driver.find_element("css selector", f'#rows tr.row[data-request-id="{request_id}"]')
        # Scrolls by the first cell, so a wide table is not left scrolled sideways.
        self.driver.execute_script("arguments[0].cells[0].scrollIntoView({block: 'center', inline: 'nearest'});", row)
        row.click()
        self.wait(lambda d: d.execute_script(
            "const p = document.getElementById('detail');"
            "return !p.hidden && p.dataset.requestId === arguments[0] && p.dataset.state;", request_id
        ) in ("ready", "gone", "error"), f"the detail of {request_id}")
        state = self.driver.execute_script("return document.getElementById('detail').dataset.state;")
        assert state == "ready", f"detail of {request_id} ended in state {state!r}: " + self.text("#detail-status")

    def text(self, selector: str) -> str:
        """textContent of the first element matching `selector` ('' when there is none)."""
        return self.driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", selector
        )

    def texts(self, selector: str) -> list:
        return self.driver.execute_script(
            "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent);", selector
        )

    def screenshot(self, path: Path, width: int, height: int) -> Path:
        """A screenshot at exactly `width`x`height` CSS pixels (device metrics override, so the media
        queries see the phone width), then back to the window's own size."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600,
        })
        try:
            self.driver.execute_script(
                "window.scrollTo(0, 0); for (const e of document.querySelectorAll('.table-wrap')) e.scrollLeft = 0;")
            time.sleep(0.5)  # let layout settle after the resize
            self.driver.save_screenshot(str(path))
            # Usable at this width: the page itself never scrolls sideways (only the table's own box may).
            page_width = self.driver.execute_script("return document.documentElement.scrollWidth;")
            assert page_width <= width, f"at {width}px the page is {page_width}px wide: it scrolls sideways"
        finally:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        return path


def audit_ids(proxy) -> list:
    """requestIDs of the proxy's audit log, oldest first."""
    return [r.get("requestID") for r in proxy.audit_records() if r.get("requestID")]


def new_records(proxy, before: set, predicate=lambda r: True, count: int = 1, timeout: float = WAIT) -> list:
    """Audit records not among `before` (requestIDs) that satisfy `predicate`, once at least `count` are
    there: the line is written when the response ends, a moment after the client returns."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in proxy.audit_records() if r.get("requestID") not in before and predicate(r)]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def crafted_s3_delete(proxy, key: str, host: str = BUCKET_HOST) -> int:
    """`DELETE https://HOST/KEY` through `proxy`'s CONNECT, trusting its CA; returns the status.

    Why S3 and DELETE: S3 percent-decodes the object key into the resource ARN (`arn:aws:s3:::BUCKET/KEY`),
    so characters HTTP forbids raw in a request target (`"`, `<`, `>`, space) still reach the audit record,
    the table's resource column and AWS's denial message verbatim; the lab's S3 endpoint policy allows
    only `s3:GetObject`, so the DELETE is denied and nothing reaches moto. Only what a request target
    cannot carry is percent-encoded."""
    target = "/" + urllib.parse.quote(key, safe="/=!$&'()*+,;:@")
    context = ssl.create_default_context(cafile=str(proxy.ca_cert))
    conn = http.client.HTTPSConnection("127.0.0.1", proxy.port, context=context, timeout=WAIT)
    try:
        conn.set_tunnel(host, 443)
        conn.request("DELETE", target, headers={"Host": host, "Content-Length": "0"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def raw_audit_lines(proxy) -> list:
    """The audit file's lines as written (the raw characters, before any JSON parsing)."""
    return proxy.audit.read_text(errors="replace").splitlines() if proxy.audit.exists() else []


def api_get(proxy, path: str):
    """GET on the admin listener, directly (loopback, never through any proxy); parsed JSON."""
    conn = http.client.HTTPConnection("127.0.0.1", proxy.admin_port, timeout=WAIT)
    try:
        conn.request("GET", path, headers={"Accept": "application/json"})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise AssertionError(f"GET {path} on the admin listener: {response.status} {body[:300]!r}")
        return json.loads(body)
    finally:
        conn.close()
