"""The dashboard of the real lab in chromium: live, keyboard-usable, clean, and whole without
JavaScript."""

from __future__ import annotations

import httpx
import pytest
from browserlab import LAB_REGIONS, Lab, Watched, artifact, until
from playwright.sync_api import Browser

pytestmark = pytest.mark.slow

# A stable name for a focusable element, unchanged when the live sections are swapped in.
_KEY = """el => {
  const region = el.closest('[data-region],[data-lab-region],[data-section]');
  const where = region ? (region.dataset.region || region.dataset.labRegion || region.dataset.section) : '';
  const form = el.closest('form');
  return [el.tagName, where, el.getAttribute('href') || '', form ? form.getAttribute('action') + (form.dataset.json || '') : '',
          el.tagName === 'SUMMARY' ? '' : el.textContent.trim()].join('|');
}"""
_FOCUSABLE = "a[href], button, summary, input, select, textarea, [tabindex]:not([tabindex='-1'])"


def test_the_dashboard_shows_both_lab_regions_healthy_and_the_dns_matrix(
    lab: Lab, watched: Watched
) -> None:
    """The lab's dashboard has a card per region, healthy, the all-clear first line, an OK DNS
    answer for each resolver and the fault panel."""
    page = watched.page
    page.goto(lab.url + "/")
    for region in LAB_REGIONS:
        card = page.locator(f'article[data-region="{region}"]')
        assert card.get_attribute("data-status") == "healthy"
        assert card.locator('[data-fact="traffic-manager"]').inner_text() == "Enabled Online"
    # A loaded machine can time a DNS answer out for a round: the live page catches up.
    page.wait_for_function(
        "document.getElementById('headline').textContent === 'All 2 regions healthy'",
        timeout=20_000,
    )
    assert page.locator('[data-section="dns"] tbody tr').count() == 4
    assert page.locator('td[data-dns-status="ok"]').count() >= 4
    assert page.locator('fieldset[data-lab-region="westeurope"] button').count() == 6


def test_the_page_updates_itself_without_console_errors(lab: Lab, watched: Watched) -> None:
    """Loaded, then swapped live at least twice, the page logs no console error and throws no
    exception."""
    page = watched.page
    page.goto(lab.url + "/")
    first = int(page.locator("#live").get_attribute("data-version") or 0)
    page.wait_for_function(
        f"Number(document.getElementById('live').dataset.version) > {first} + 1", timeout=15_000
    )
    page.locator('article[data-region="westeurope"] details summary').click()
    assert watched.errors == []


def test_tab_reaches_every_control_on_the_page(lab: Lab, watched: Watched) -> None:
    """Pressing Tab from the top focuses every link, summary and button on the page in turn."""
    page = watched.page
    page.goto(lab.url + "/")
    wanted = set(page.eval_on_selector_all(_FOCUSABLE, f"els => els.map({_KEY})"))
    reached: set[str] = set()
    for _ in range(len(wanted) * 2):
        page.keyboard.press("Tab")
        key = page.evaluate(
            f"(() => {{ const el = document.activeElement; return el && el !== document.body ? ({_KEY})(el) : ''; }})()"
        )
        reached.add(key)
        if wanted <= reached:
            break
    assert wanted - reached == set()


def test_without_javascript_the_page_is_whole_and_refreshes_itself(
    lab: Lab, browser: Browser
) -> None:
    """With JavaScript off, every card, the DNS matrix and the timeline are in the page, and
    it asks the browser to refresh it each round."""
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(lab.url + "/")
        assert page.locator("article[data-region]").count() == 2
        assert page.locator('[data-section="dns"] table').count() == 1
        assert page.locator('[data-section="timeline"]').count() == 1
        assert page.locator('noscript meta[http-equiv="refresh"]').count() == 1
    finally:
        context.close()


def test_on_a_phone_nothing_scrolls_sideways_in_light_or_dark(lab: Lab, browser: Browser) -> None:
    """At a phone's width the page fits its width, and the dark scheme changes the colours."""
    backgrounds = []
    for scheme in ("light", "dark"):
        context = browser.new_context(
            viewport={"width": 390, "height": 844}, color_scheme=scheme, is_mobile=True
        )
        try:
            page = context.new_page()
            page.goto(lab.url + "/")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{scheme}: the page is {width} px wide"
            backgrounds.append(page.evaluate("getComputedStyle(document.body).backgroundColor"))
            page.screenshot(path=artifact(f"phone-{scheme}.png"), full_page=True)
        finally:
            context.close()
    assert backgrounds[0] != backgrounds[1]


def test_the_traffic_manager_buttons_disable_and_enable_an_endpoint(
    lab: Lab, watched: Watched
) -> None:
    """The fault panel's Traffic Manager buttons change the emulated endpoint, without leaving
    the page."""
    page = watched.page
    page.goto(lab.url + "/")
    panel = page.locator('fieldset[data-lab-region="centralus"]')
    with httpx.Client(base_url=lab.url, timeout=5) as client:

        def endpoint() -> str:
            return str(
                client.get("/lab/traffic-manager").json()["endpoints"]["centralus"][
                    "endpoint_status"
                ]
            )

        panel.get_by_role("button", name="Disable in Traffic Manager").click()
        until(lambda: endpoint() == "Disabled", timeout=5, what="centralus Disabled")
        panel.get_by_role("button", name="Enable in Traffic Manager").click()
        until(lambda: endpoint() == "Enabled", timeout=5, what="centralus Enabled")
    assert page.url.rstrip("/") == lab.url
    page.wait_for_function(
        "document.getElementById('lab-result').textContent === 'Enable in Traffic Manager: done'"
    )
    assert watched.errors == []


def test_a_broken_deploy_turns_the_card_failing_live_then_the_disable_shows_in_timeline_and_dns(
    lab: Lab, watched: Watched
) -> None:
    """Release 2.0.0 and an HTTP 500 from the panel's buttons: westeurope's card turns failing
    with no reload, the first line says so, and regionwatch's disable shows in the timeline
    and as Europe's DNS answers failing over."""
    page = watched.page
    page.goto(lab.url + "/")
    # Live through the stream (the page polls only where no stream is served).
    assert page.locator("#live").get_attribute("data-stream") == "/api/v1/stream"
    page.evaluate("window.notReloaded = true")
    panel = page.locator('fieldset[data-lab-region="westeurope"]')
    panel.get_by_role("button", name="Deploy 2.0.0").click()
    page.wait_for_function("document.getElementById('lab-result').textContent.endsWith('done')")
    panel.get_by_role("button", name="Break: HTTP 500").click()
    page.wait_for_selector(
        'article[data-region="westeurope"][data-status="failing"]', timeout=15_000
    )
    assert page.evaluate("window.notReloaded") is True
    assert page.locator("#headline").inner_text().startswith("westeurope failing since ")
    with httpx.Client(base_url=lab.url, timeout=5) as client:
        region = client.get("/lab").json()["regions"]["westeurope"]
    assert region["release"] == "2.0.0"
    assert region["faults"] == {"error": {"status": 500, "every": 1}}

    page.wait_for_selector(
        '[data-section="timeline"] li[data-event="endpoint.disabled"][data-region="westeurope"]',
        timeout=30_000,
    )
    page.wait_for_selector(
        'tr[data-resolver="eu"] td[data-vantage="europe"][data-dns-status="failover"]',
        timeout=30_000,
    )
    assert page.evaluate("window.notReloaded") is True
    card = page.locator('article[data-region="westeurope"]')
    assert card.locator('[data-fact="traffic-manager"] .badge').first.inner_text() == "Disabled"
    assert watched.errors == []
