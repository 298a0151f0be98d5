"""Every form control a prosecutor meets has a name of its own, not only a placeholder.

A placeholder disappears as soon as something is typed, is read by screen readers only as
a fallback and is often not read at all; a control named only by it is unlabelled. The
test walks the pages a prosecutor uses, in headless Chromium over the real bus, in both
languages, and checks every visible input, select and textarea it finds on each page
(so a control added later without a label fails it): its name must come from a
``<label>`` (``for=`` or wrapping, with text of its own), ``aria-labelledby`` or
``aria-label``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from hub.view.settings import DEFAULT_DEMO_PASSWORD
from tests.support.live_view import LiveView, live_view_server, view_topics
from tests.support.view_data import MARKET, case_spec, demo_events

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CASES = 40

#: The accessible name of each visible form control, from the sources that are labels
#: (aria-labelledby, aria-label, <label>), never from placeholder or title. A label's own
#: text excludes the controls inside it: a <select> wrapped in an empty <label> is not
#: named by its options.
CONTROLS_JS = """
() => {
  const own = (node) => {
    const copy = node.cloneNode(true);
    copy.querySelectorAll('input, select, textarea, button').forEach((e) => e.remove());
    return copy.textContent.replace(/\\s+/g, ' ').trim();
  };
  const shown = (el) => {
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== 'hidden';
  };
  const found = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    const type = (el.getAttribute('type') || '').toLowerCase();
    if (['hidden', 'submit', 'button', 'reset', 'image'].includes(type) || !shown(el)) {
      continue;
    }
    let name = '';
    const ids = el.getAttribute('aria-labelledby');
    if (ids) {
      name = ids.split(/\\s+/).map((id) => document.getElementById(id)).filter(Boolean)
        .map(own).join(' ').trim();
    }
    if (!name) name = (el.getAttribute('aria-label') || '').trim();
    if (!name && el.labels) name = Array.from(el.labels).map(own).join(' ').trim();
    found.push({control: el.getAttribute('name') || el.id || el.tagName,
                html: el.outerHTML.slice(0, 200), name: name});
  }
  return found;
}
"""


@pytest.fixture
def live_view(tmp_path: Path, bootstrap: str, registry_url: str,
              topic_factory: Callable[..., str], group_id: str) -> Iterator[LiveView]:
    with live_view_server(
        tmp_path, bootstrap=bootstrap, registry_url=registry_url,
        topics=view_topics(topic_factory), group_id=group_id,
        events=demo_events(CASES), demo_unit_codes=[MARKET],
    ) as view:
        yield view


async def _controls(page: Page, where: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await page.evaluate(CONTROLS_JS)
    unnamed = [item["html"] for item in found if not item["name"]]
    assert unnamed == [], f"{where}: controls without a label: {unnamed}"
    return found


async def _walk(page: Page, base: str, language: str) -> set[str]:
    """Open every page with a form, check its controls; the controls' names seen."""
    seen: set[str] = set()

    async def check(path: str) -> None:
        if path:
            answer = await page.goto(f"{base}{path}")
            assert answer is not None and answer.status == 200, path
        seen.update(item["control"] for item in await _controls(page, f"{language} {path}"))

    spec = next(case_spec(i) for i in range(CASES) if case_spec(i).owner == MARKET)
    for path in ("/", "/cases", f"/cases?party={spec.party.name}", f"/cases/{spec.case_id}",
                 "/alerts", "/alerts?leads=1", "/unmatched", "/units", f"/units/{MARKET}",
                 "/reports", "/assessment", f"/assessment/units/{MARKET}", "/library",
                 "/recheck"):
        await check(path)
    await page.goto(f"{base}/unmatched")
    await page.locator("#unmatched-queue a.match-link").first.click()
    await check("")
    await page.fill("#candidate-q", spec.party.name[:2])
    await page.click("#candidate-search-submit")
    await expect(page.locator("#search-results")).to_be_visible()
    await check("")
    await page.goto(f"{base}/recheck")
    await page.fill("#draw-per-unit", "1")
    await page.fill("#draw-seed", "42")
    await page.click("#draw-submit")
    await expect(page.locator("#recheck-list tr.recheck-row").first).to_be_visible()
    await check("")
    return seen


async def test_every_form_control_on_the_prosecutors_pages_has_a_label(
    live_view: LiveView, browser_page: Page
) -> None:
    page = browser_page
    await page.goto(f"{live_view.url}/login")
    await _controls(page, "login")
    await page.fill("#username", "prosecutor")
    await page.fill("#password", DEFAULT_DEMO_PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_load_state()
    await expect(page.locator("h1")).to_have_text("工作台")

    seen = await _walk(page, live_view.url, "zh")
    # The walk reached the controls that had only a placeholder or nothing: the alert
    # queue's assign and review forms, a candidate's note, the re-check's finding and note
    # and the library's section filter (otherwise it would prove nothing).
    assert {"assignee", "conclusion", "note", "result", "section", "party",
            "action", "content", "q", "seed"} <= seen

    await page.click("#lang-switch")
    await expect(page.locator("a[data-nav=cases]")).to_have_text("Cases")
    assert await _walk(page, live_view.url, "en") == seen
