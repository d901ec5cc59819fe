"""The operations view in a real headless browser: Debian's Chromium driven by Playwright,
over the demo's end state served as ``taops demo --serve`` serves it. Each page renders,
the breached thread is red, and the buttons work end to end.

Skipped, with the reason, where Chromium or Playwright is missing; CI sets
``TAOPS_REQUIRE_BROWSER=1`` (``.ci/run`` installs Chromium), which makes that a failure.
The screenshots go to ``TAOPS_SCREENSHOTS_DIR`` (``make screenshots``: ``docs/screenshots``,
the ones the README shows), else to a temporary directory.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.bootstrap import Context
from shared.dashboard import serve
from shared.dispatch import EVENT_HANDLERS
from shared.processing import OUTBOX
from shared.store import EmbeddedStore
from tests.dashboard_world import NOW, demo_state

CHROMIUM = os.environ.get("TAOPS_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("TAOPS_REQUIRE_BROWSER") == "1"
PAGES = [("today", ""), ("out", "out"), ("accounts", "accounts"), ("actions", "actions")]


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements.lock)"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set TAOPS_CHROMIUM)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _missing()
    if reason:
        if REQUIRED:
            pytest.fail(f"TAOPS_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def served(policy) -> Iterator[tuple[str, EmbeddedStore]]:
    store = EmbeddedStore()
    state = demo_state(policy)
    store.put_many((c, i, d) for c, docs in state.items() for i, d in docs.items())
    server = serve.start(Context(store, policy, function="dashboard"), clock=lambda: NOW)
    yield serve.url(server), store
    server.shutdown()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("TAOPS_SCREENSHOTS_DIR")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_every_page_renders_and_the_breached_thread_is_red(browser, served, shots: Path) -> None:
    url, _ = served
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    headings = {}
    for name, path in PAGES:
        response = page.goto(url + path)
        assert response is not None and response.status == 200, name
        headings[name] = page.locator("h1").inner_text()
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert headings == {
        "today": "Today: the pooled mailbox",
        "out": "Who is out",
        "accounts": "Accounts",
        "actions": "Actions",
    }

    page.goto(url)
    breached = page.locator('tr[data-thread="19b0demothread-globex"]')
    assert "breached" in (breached.get_attribute("class") or "")
    assert breached.locator("td.left").evaluate("e => getComputedStyle(e).color") == "rgb(198, 40, 40)"
    assert breached.evaluate("e => getComputedStyle(e.cells[0]).backgroundColor") == "rgb(253, 236, 234)"
    in_time = page.locator('tr[data-thread="19b0demothread-aviato"] td.left')
    assert in_time.evaluate("e => getComputedStyle(e).color") != "rgb(198, 40, 40)"
    assert page.locator("svg.chart").count() == 1

    page.goto(url + "out")
    assert "Coverage plan: shared" in page.locator("#absence-pto-ana-jan").inner_text()
    assert "Carla Mendes" in page.locator("#absence-pto-ana-jan").inner_text()
    assert "draft" in page.locator("#absence-pto-ben-jan").inner_text()

    phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    phone.goto(url)
    phone.screenshot(path=str(shots / "today-phone.png"), full_page=True)
    # On a phone the board scrolls inside its box; the page itself does not overflow.
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.skipif(
    "outbox.cancel" not in EVENT_HANDLERS,
    reason="shared/handlers/outbox_cancel.py (issue 13) is not on this branch yet",
)
def test_the_cancel_button_cancels_the_action_and_records_who_and_why(browser, served) -> None:
    url, store = served
    [(action_id, _)] = [
        (i, d) for i, d in store.query(OUTBOX) if d["status"] == "pending" and d["kind"] == "slack.status"
    ]
    page = browser.new_page()
    page.goto(url + "actions")
    row = page.locator(f"#action-{action_id}")
    row.locator("input[name=reason]").fill("Ana moved her trip")
    row.get_by_role("button", name="Cancel").click()
    page.wait_for_url("**/actions?done=*")
    assert "cancelled by mara@example.com" in page.locator(".notice").inner_text()
    assert page.locator(f"#action-{action_id}").count() == 0
    doc = store.get(OUTBOX, action_id)
    assert (doc["status"], doc["cancelled_by"], doc["cancel_reason"]) == (
        "cancelled",
        "mara@example.com",
        "Ana moved her trip",
    )


def test_the_retry_button_sends_a_failed_action_again(browser, served) -> None:
    url, store = served
    [(action_id, _)] = [(i, d) for i, d in store.query(OUTBOX) if d["status"] == "failed"]
    page = browser.new_page()
    page.goto(url + "actions")
    row = page.locator(f"#action-{action_id}")
    assert "channel_not_found" in row.inner_text()
    row.get_by_role("button", name="Retry").click()
    page.wait_for_url("**/actions?done=*")
    assert "sent again by mara@example.com" in page.locator(".notice").inner_text()
    assert page.locator(f"#failed #action-{action_id}").count() == 0
    assert page.locator(f"#pending #action-{action_id}").count() == 1
    doc = store.get(OUTBOX, action_id)
    assert (doc["status"], doc["retried_by"]) == ("pending", "mara@example.com")
