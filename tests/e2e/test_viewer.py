"""The decision viewer (admin listener `/`, src/admin/viewer/) in headless chromium against the real binary.

Done when (the issue): after the lab's stories run, the page shows every request of the stories; rows of
requests made while it is open arrive live; the `denied` filter shows denials only; a denial's detail
highlights the deciding statement's lines and names it; request-derived text is shown, never run.

The test drives its own requests through the story proxies after loading the page, so it passes alone as
well as after test_stories.py (which, run first, fills the ring with every story request). Browser
helpers and the crafted request are in lab/viewer.py. Chromium missing is a failure, not a skip.
"""

import os
import shutil
import time

import pytest

from lab.proxy import REPO_ROOT, VIEWER_DECISIONS
from lab.stories import EXPLICIT_DENY, NO_ENDPOINT_ALLOW
from lab.viewer import (
    ARTIFACTS,
    DENIED,
    XSS_PAYLOAD,
    Console,
    Page,
    api_get,
    audit_ids,
    chrome,
    crafted_s3_delete,
    new_records,
    raw_audit_lines,
)
from lab.world import DEV, OUTSIDER

DELETE_SID = "NobodyDeletesBaseImage3"  # tests/e2e/policies/org-only-ecr-us-east-1.json


@pytest.fixture(scope="module")
def browser():
    driver = chrome()
    console = Console(driver)
    try:
        yield driver, console
    finally:
        driver.quit()


def _clean(console):
    """Step 9, after every step: no CSP violation, script error or failed load in the console so far."""
    severe = console.severe()
    assert not severe, "browser console errors:\n" + "\n".join(e.get("message", str(e)) for e in severe)


def _one(proxy, before, what, predicate):
    found = new_records(proxy, before, predicate)
    assert len(found) == 1, f"expected one audit record of {what}, found {found}"
    return found[0]


def _arn(record):
    return (record.get("userIdentity") or {}).get("arn")


@pytest.fixture(scope="module")
def live(browser, lab, stories):
    """Steps 1-2: the page is open on the story proxy's admin listener, then an allowed and two denied
    ECR API requests go through that proxy; returns the page and their audit records."""
    driver, _ = browser
    proxy = lab.proxy
    page = Page(driver, proxy.admin_url).open()
    page.wait(lambda d: page.live() == "live", "the event stream to open (#live = live)")
    before = set(audit_ids(proxy))

    allowed = stories.aws(DEV, "describe-images", "--repository-name", "app")
    assert allowed.allowed, allowed.text
    denied = stories.aws(DEV, "delete-repository", "--repository-name", "base-image3")
    assert not denied.allowed and EXPLICIT_DENY in denied.text, denied.text
    outsider = stories.aws(OUTSIDER, "get-authorization-token")
    assert not outsider.allowed, outsider.text

    records = {
        "allowed": _one(proxy, before, "describe-images", lambda r: r.get("action") ==
                        "ecr:DescribeImages" and _arn(r) == DEV.arn),
        "explicit": _one(proxy, before, "delete-repository", lambda r: r.get("action") ==
                         "ecr:DeleteRepository" and _arn(r) == DEV.arn),
        "implicit": _one(proxy, before, "the outsider's get-authorization-token", lambda r: r.get("action") ==
                         "ecr:GetAuthorizationToken" and _arn(r) == OUTSIDER.arn),
    }
    assert records["allowed"]["decision"] == "Allow", records["allowed"]
    assert records["explicit"]["decision"] == "ExplicitDeny", records["explicit"]
    assert records["explicit"]["statementSid"] == DELETE_SID, records["explicit"]
    assert records["implicit"]["decision"] == "ImplicitDeny", records["implicit"]
    return page, records


def test_rows_arrive_live_and_the_page_shows_every_request(browser, live, lab):
    page, records = live
    ids = {r["requestID"] for r in records.values()}
    # Step 3: the requests made after the page loaded arrive through the event stream (no reload).
    page.wait_rows(ids, "rows of the requests made while the page was open")
    by_id = {r["id"]: r for r in page.rows()}
    for record in records.values():
        row = by_id[record["requestID"]]
        assert row["decision"] == record["decision"], (row, record)
        assert row["service"] == (record.get("service") or ""), (row, record)
    assert page.live() == "live"

    # Step 4: every request in the audit log that is still in the ring, on the server and on the page.
    expected = audit_ids(lab.proxy)[-VIEWER_DECISIONS:]
    served = {r["requestID"] for r in api_get(lab.proxy, f"/api/decisions?limit={VIEWER_DECISIONS}")}
    missing = [i for i in expected if i not in served]
    assert not missing, f"/api/decisions lacks {len(missing)} of {len(expected)} audited requests: {missing[:5]}"
    page.load_all_older()
    shown = page.row_ids()
    missing = [i for i in expected if i not in shown]
    assert not missing, f"the page lacks {len(missing)} of {len(expected)} audited requests: {missing[:5]}"

    # The chart counts the rows shown, one bar per (action, decision).
    rows = page.rows()
    page.wait(lambda d: sum(int(c) for c in d.execute_script(
        "return Array.from(document.querySelectorAll('#chart .bar')).map(b => b.dataset.count);"
    )) == len(rows), "the chart to count every row")
    bars = page.driver.execute_script(
        "return Array.from(document.querySelectorAll('#chart .bar'))"
        ".map(b => [b.dataset.action, b.dataset.decision, +b.dataset.count]);"
    )
    assert ["ecr:DeleteRepository", "ExplicitDeny"] in [b[:2] for b in bars], bars
    _clean(browser[1])


def test_denied_filter_shows_denials_only(browser, live):
    page, records = live
    page.open()
    page.set_decision_filter("denied")
    denied_ids = {records["explicit"]["requestID"], records["implicit"]["requestID"]}

    def only_denials(_):
        rows = page.rows()
        return rows and denied_ids <= {r["id"] for r in rows} and all(r["decision"] in DENIED for r in rows)

    page.wait(only_denials, "only denied rows, the test's denials among them")
    rows = page.rows()
    assert records["allowed"]["requestID"] not in {r["id"] for r in rows}
    assert {r["decision"] for r in rows} <= set(DENIED), rows
    _clean(browser[1])


def test_detail_highlights_the_deciding_statement(browser, live):
    page, records = live
    record = records["explicit"]
    page.open()
    page.wait_rows([record["requestID"]])
    page.open_detail(record["requestID"])

    sid = record["statementSid"]
    deciding = page.texts("#detail-policies .line.deciding")
    assert deciding, "no line of the deciding statement is highlighted"
    assert sid in "\n".join(deciding), deciding
    assert sid in page.text("#detail-reasons"), page.texts("#detail-reasons li")
    message = page.text("#detail-message")
    assert f"User: {DEV.arn} is not authorized to perform: ecr:DeleteRepository" in message, message
    assert EXPLICIT_DENY in message, message
    context = page.text("#detail-context")
    assert DEV.arn in context, context
    _clean(browser[1])


def test_detail_of_a_data_perimeter_denial_names_the_condition_key(browser, stories):
    driver, _ = browser
    proxy = stories.dp_proxy()
    page = Page(driver, proxy.admin_url).open()
    page.wait(lambda d: page.live() == "live", "the data-perimeter proxy's event stream")
    before = set(audit_ids(proxy))
    outcome = stories.aws(OUTSIDER, "describe-images", "--repository-name", "app", proxy=proxy)
    assert not outcome.allowed, outcome.text
    record = _one(proxy, before, "the outsider's describe-images", lambda r: r.get("action") ==
                  "ecr:DescribeImages" and _arn(r) == OUTSIDER.arn)
    assert record["decision"] == "ImplicitDeny", record

    page.wait_rows([record["requestID"]], "the data-perimeter denial's row")
    page.open_detail(record["requestID"])
    reasons = page.text("#detail-reasons")
    assert "aws:principalorgid" in reasons.lower(), page.texts("#detail-reasons li")
    assert NO_ENDPOINT_ALLOW + " ecr:DescribeImages" in page.text("#detail-message")
    assert page.texts("#detail-policies .policy"), "no policy document rendered"
    _clean(browser[1])


def test_request_derived_text_is_shown_never_run(browser, lab):
    driver, _ = browser
    proxy = lab.proxy
    page = Page(driver, proxy.admin_url).open()
    page.wait(lambda d: page.live() == "live", "the event stream to open")
    lines_before = len(raw_audit_lines(proxy))
    before = set(audit_ids(proxy))

    status = crafted_s3_delete(proxy, "viewer-xss/" + XSS_PAYLOAD)
    # The payload must really be in the record, raw, or the checks below would pass vacuously.
    deadline = time.monotonic() + 10
    while not [line for line in raw_audit_lines(proxy)[lines_before:] if "<img src=x onerror=" in line]:
        assert time.monotonic() < deadline, f"the crafted DELETE (answered {status}) left no audit line " \
            "with the raw payload:\n" + "\n".join(raw_audit_lines(proxy)[lines_before:])
        time.sleep(0.1)
    record = _one(proxy, before, "the crafted DELETE", lambda r: any(
        XSS_PAYLOAD in ((x or {}).get("ARN") or "") for x in r.get("resources") or []))
    assert record["decision"] in DENIED, record  # the lab's S3 policy allows s3:GetObject only

    page.wait_rows([record["requestID"]], "the crafted request's row")
    row = next(r for r in page.rows() if r["id"] == record["requestID"])
    assert XSS_PAYLOAD in row["text"], row
    page.open_detail(record["requestID"])
    if XSS_PAYLOAD in (record.get("errorMessage") or ""):
        assert XSS_PAYLOAD in page.text("#detail-message")
    assert XSS_PAYLOAD in page.text("#detail-class")
    time.sleep(0.5)  # an injected image's error handler would have run by now
    assert driver.execute_script("return typeof window.__xss;") == "undefined"
    assert driver.execute_script("return document.querySelectorAll('img[src=\"x\"]').length;") == 0
    assert not driver.execute_script(
        "return Array.from(document.scripts).some(s => s.textContent.includes('__xss'));"
    ), "the payload's <script> element is in the document"
    _clean(browser[1])


def test_screenshots_and_a_clean_console(browser, live):
    driver, console = browser
    page, records = live
    page.open()
    page.wait_rows([records["explicit"]["requestID"]])
    page.open_detail(records["explicit"]["requestID"])
    out = REPO_ROOT / ARTIFACTS
    wide = page.screenshot(out / "viewer-1280.png", 1280, 800)
    page.screenshot(out / "viewer-phone.png", 390, 844)
    if os.environ.get("VIEWER_SCREENSHOT_DOCS") == "1":
        (REPO_ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(wide, REPO_ROOT / "docs" / "viewer.png")
    _clean(console)
