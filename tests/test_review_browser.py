"""The review page in a real browser: Debian's chromium, headless, through /usr/bin/chromedriver.

Nothing is downloaded: the driver path is given to selenium's ``Service`` (so
Selenium Manager is skipped), ``SE_OFFLINE=1`` is set, and the test fails if
Selenium Manager is asked anyway. The browser runs with no network features.

``python -m tests.test_review_browser docs/img/review.png`` rewrites the
screenshot in the docs.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from extractkit.eval import Comparer, DocumentReport
from extractkit.review.page import SLICE_CHARS, page_document, write_page

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"

LETTER = (
    "PURCHASE ORDER 2024-118\n\n"
    "From: Northwind Traders, 12 Harbour Road, Portsmouth\n"
    "To: Contoso Ltd </script><b>not bold</b>\n\n"
    "Please deliver by 5 March 2024:\n"
    "  - 40 x steel brackets (SKU BR-40)\n"
    "  - 12 x hinge sets (SKU HG-12)\n\n"
    "Payment within 30 days. Contact: orders@northwind.example\n"
)


def _span(text: str, needle: str, **extra):
    start = text.index(needle)
    return {"start": start, "end": start + len(needle), "source": "text", **extra}


def _grounded(value, text, needle=None, status="exact", score=1.0):
    spans = [_span(text, needle if needle is not None else str(value))] if status != "ungrounded" else []
    return {"value": value, "status": status, "score": score, "spans": spans, "required": True}


def sample_documents(tmp: Path, count: int = 1000) -> list[dict]:
    value = {"buyer": "Contoso Ltd", "seller": "Northwind Traders", "due": "5 March 2024",
             "items": [{"sku": "BR-40", "qty": 40}, {"sku": "HG-12", "qty": 12}],
             "email": "orders@northwind.com", "city": "Portsmouth"}
    grounding = {
        "/buyer": _grounded("Contoso Ltd", LETTER),
        "/seller": _grounded("Northwind Traders", LETTER),
        "/due": _grounded("5 March 2024", LETTER),
        "/items/0/sku": _grounded("BR-40", LETTER),
        "/items/0/qty": _grounded(40, LETTER, "40 x"),
        "/items/1/sku": _grounded("HG-12", LETTER),
        "/items/1/qty": _grounded(12, LETTER, "12 x"),
        "/email": _grounded("orders@northwind.com", LETTER, status="ungrounded", score=0.0),
        "/city": _grounded("Portsmouth", LETTER, status="fuzzy", score=0.93),
    }
    first = {"input": "order-118.txt", "ok": True, "value": value, "grounding": grounding,
             "conflicts": {"/city": [{"value": "Portsmouth", "chunk": 0, "spans": []},
                                     {"value": "Southampton", "chunk": 3, "spans": []}]}}
    expected = {"buyer": "Contoso Ltd", "seller": "Northwind Traders", "due": "2024-03-05",
                "items": [{"sku": "BR-40", "qty": 40}, {"sku": "HG-12", "qty": 10}],
                "email": "orders@northwind.example", "city": "Portsmouth", "ref": "2024-118"}
    schema = {"type": "object", "properties": {"due": {"type": "string", "x-match": "date"}}}
    outcomes = Comparer(schema).compare(expected, value)
    failed = {"input": "order-119.txt", "ok": False,
              "error": "validation failed after 2 attempts: /qty: Input should be a valid integer",
              "attempts": [{"raw": '{"qty": "many"}', "errors": ["/qty: Input should be a valid "
                                                                   "integer"],
                            "finish_reason": "stop"},
                           {"raw": '{"qty": "lots"}', "errors": ["/qty: still not an integer"],
                            "finish_reason": "stop"}]}
    # a 300-page document (3,000 characters a page) with one value on the last page
    pages = [f"Page {n}\n" + ("lorem ipsum dolor sit amet " * 110) + "\n" for n in range(1, 301)]
    pages[-1] = pages[-1].replace("lorem", "GRAND TOTAL 9,999.00 EUR", 1)
    long_text = "".join(pages)
    long_record = {"input": "annual-report.pdf", "ok": True,
                   "value": {"total": "9,999.00 EUR", "lines": [f"line {n}" for n in range(1000)]},
                   "grounding": {"/total": {"value": "9,999.00 EUR", "status": "exact",
                                            "score": 1.0,
                                            "spans": [_span(long_text, "9,999.00 EUR",
                                                            page=300)]}},
                   "document": {"path": "annual-report.pdf", "pages": 300, "chunks": 40,
                                "failed_chunks": []}}
    docs = [page_document(first, LETTER, DocumentReport("order-118.txt", True, outcomes)),
            page_document(failed, None),
            page_document(long_record, long_text)]
    for n in range(3, count):
        text = f"Note {n} 😀🎉: call Ann at noon."  # offsets count code points, JS UTF-16
        docs.append(page_document({"input": f"note-{n}", "ok": True, "value": {"name": "Ann"},
                                   "grounding": {"/name": _grounded("Ann", text)}}, text))
    return docs


def write_sample(path: Path, count: int = 1000) -> Path:
    from extractkit.review.page import build_page

    docs = sample_documents(path.parent, count)
    path.write_text(build_page(docs, title="extractkit review: orders.jsonl",
                               summary=f"{len(docs)} documents, 1 failed"), encoding="utf-8")
    return path


def _chrome():
    os.environ["SE_OFFLINE"] = "1"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common import selenium_manager

    def _refuse(*args, **kwargs):
        raise AssertionError("Selenium Manager was asked to find or download a driver")

    selenium_manager.SeleniumManager.binary_paths = _refuse  # type: ignore[method-assign]
    profile = tempfile.mkdtemp(prefix="extractkit-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                 "--window-size=1400,860"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    driver = _chrome()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page_url(tmp_path_factory) -> str:
    path = write_sample(tmp_path_factory.mktemp("review") / "review.html")
    return path.as_uri()


def _js(browser, script, *args):
    return browser.execute_script(script, *args)


def _in_view(browser, element) -> bool:
    return _js(browser, """
        const r = arguments[0].getBoundingClientRect();
        const p = document.getElementById('text').getBoundingClientRect();
        return r.height > 0 && r.top >= p.top && r.bottom <= p.bottom;""", element)


def test_spans_are_highlighted_at_their_text_in_the_field_colour(browser, page_url, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(page_url)
    marks = browser.find_elements(By.CSS_SELECTOR, "#text mark")
    by_pointer = {}
    for mark in marks:
        for pointer in mark.get_attribute("data-p").split("|"):
            by_pointer.setdefault(pointer, []).append(mark.text)
    assert by_pointer["/buyer"] == ["Contoso Ltd"]
    assert by_pointer["/due"] == ["5 March 2024"]
    assert by_pointer["/items/0/sku"] == ["BR-40"]
    assert by_pointer["/items/1/qty"] == ["12 x"]
    assert "/email" not in by_pointer  # ungrounded: nothing to highlight
    # the same colour on the span and on the leaf's swatch; items share a field colour
    colour = _js(browser, "return document.querySelector('mark[data-p=\"/buyer\"]').style.background")
    swatch = _js(browser, "return document.querySelector('.leaf[data-p=\"/buyer\"] .swatch')"
                 ".style.background")
    assert colour and colour == swatch
    sku0 = _js(browser, "return document.querySelector('mark[data-p=\"/items/0/sku\"]').style.background")
    sku1 = _js(browser, "return document.querySelector('mark[data-p=\"/items/1/sku\"]').style.background")
    assert sku0 == sku1 != colour
    # the document's own markup is shown as text, not parsed
    text = browser.find_element(By.CSS_SELECTOR, "#text .doc").text
    assert "</script><b>not bold</b>" in text
    assert not browser.find_elements(By.CSS_SELECTOR, "#text b")
    browser.save_screenshot(str(tmp_path / "review.png"))
    assert (tmp_path / "review.png").stat().st_size > 10_000


def test_flags_eval_marks_and_conflicts(browser, page_url):
    from selenium.webdriver.common.by import By

    browser.get(page_url)
    side = browser.find_element(By.ID, "side")
    email = side.find_element(By.CSS_SELECTOR, '.leaf[data-p="/email"]').find_element(By.XPATH, "..")
    assert "ungrounded" in email.text
    assert "expected \"orders@northwind.example\"" in email.text
    qty = side.find_element(By.CSS_SELECTOR, '.leaf[data-p="/items/1/qty"]').find_element(By.XPATH, "..")
    assert "expected 10" in qty.text
    due = side.find_element(By.CSS_SELECTOR, '.leaf[data-p="/due"]').find_element(By.XPATH, "..")
    assert "✓" in due.text  # written out, but the same day
    city = side.find_element(By.CSS_SELECTOR, '.leaf[data-p="/city"]').find_element(By.XPATH, "..")
    assert "2 candidates" in city.text and "Southampton" in city.text and "fuzzy 0.93" in city.text
    assert "EXPECTED BUT NOT EXTRACTED" in side.text.upper() and "/ref" in side.text


def test_clicking_a_leaf_scrolls_its_span_into_view_even_on_page_300(browser, page_url):
    from selenium.webdriver.common.by import By

    browser.get(page_url + "#doc=annual-report.pdf")
    rendered = _js(browser, "return document.querySelector('#text .doc').textContent.length")
    assert rendered == SLICE_CHARS  # of ~900,000 characters, one slice is in the page
    leaf = browser.find_element(By.CSS_SELECTOR, '.leaf[data-p="/total"]')
    leaf.click()
    mark = browser.find_element(By.CSS_SELECTOR, "#text mark.focus")
    assert mark.text == "9,999.00 EUR"
    assert _in_view(browser, mark)
    # a list of 1,000 values is rendered 200 at a time
    lines = '.leaf[data-p^="/lines/"]'
    assert len(browser.find_elements(By.CSS_SELECTOR, lines)) == 200
    browser.find_element(By.CSS_SELECTOR, "button.more-items").click()
    assert len(browser.find_elements(By.CSS_SELECTOR, lines)) == 400
    # and on the short document too
    browser.get(page_url)
    browser.find_element(By.CSS_SELECTOR, '#text').click()
    browser.find_element(By.CSS_SELECTOR, '.leaf[data-p="/items/1/sku"]').click()
    focus = browser.find_element(By.CSS_SELECTOR, "#text mark.focus")
    assert focus.text == "HG-12" and _in_view(browser, focus)


def test_hovering_a_span_shows_its_field_path(browser, page_url):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    browser.get(page_url)
    mark = browser.find_element(By.CSS_SELECTOR, 'mark[data-p="/items/0/sku"]')
    ActionChains(browser).move_to_element(mark).perform()
    tip = browser.find_element(By.ID, "tip")
    assert tip.is_displayed()
    assert tip.text == "/items/0/sku"
    assert browser.find_element(By.CSS_SELECTOR, '.leaf[data-p="/items/0/sku"]').get_attribute(
        "class").split() == ["leaf", "spanned", "hl"]


def test_spans_after_emoji_land_on_their_text(browser, page_url):
    from selenium.webdriver.common.by import By

    browser.get(page_url + "#doc=note-3")
    assert [m.text for m in browser.find_elements(By.CSS_SELECTOR, "#text mark")] == ["Ann"]


def test_failures_and_a_thousand_documents(browser, page_url):
    from selenium.webdriver.common.by import By

    browser.get(page_url)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#list li")) == 100  # one page of the list
    assert browser.find_element(By.ID, "page").text == "1 / 10"
    browser.find_element(By.ID, "next").click()
    side = browser.find_element(By.ID, "side")
    assert "validation failed after 2 attempts" in side.text
    assert len(side.find_elements(By.CSS_SELECTOR, "details.attempt")) == 2
    assert browser.find_element(By.ID, "position").text == "2 / 1000"
    # filtering to the failed document
    browser.execute_script("const f = document.getElementById('filter'); f.value = 'failed';"
                           "f.dispatchEvent(new Event('change'));")
    assert browser.find_element(By.ID, "position").text == "1 / 1"
    assert [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#list li")] == [
        "order-119.txt"]


def test_the_page_needs_no_network(tmp_path):
    path = write_sample(tmp_path / "p.html", count=3)
    page = path.read_text()
    assert "default-src 'none'" in page
    assert "http://" not in page and "https://" not in page
    data = json.loads(page.split('id="review-data">')[1].split("</script>")[0])
    assert [d["id"] for d in data["documents"]] == ["order-118.txt", "order-119.txt",
                                                    "annual-report.pdf"]


def test_write_page_from_records(tmp_path):
    path = write_page(tmp_path / "r.html", [{"input": "a", "ok": True, "value": {"x": 1},
                                             "text": "x is 1"}])
    assert '"text": "x is 1"' in path.read_text()


if __name__ == "__main__":  # the docs screenshot
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img/review.png")
    with tempfile.TemporaryDirectory() as folder:
        url = write_sample(Path(folder) / "review.html", count=40).as_uri()
        driver = _chrome()
        try:
            from selenium.webdriver.common.action_chains import ActionChains
            from selenium.webdriver.common.by import By

            driver.get(url)
            mark = driver.find_element(By.CSS_SELECTOR, 'mark[data-p="/items/0/sku"]')
            ActionChains(driver).move_to_element(mark).perform()
            driver.save_screenshot(str(target))
        finally:
            driver.quit()
    print(f"wrote {target}")
