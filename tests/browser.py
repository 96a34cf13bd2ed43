"""Debian's Chromium, driven by Playwright, against Django's live server: for the browser
tests (tests/e2e) and the user guides' screenshots (tests/docs).

Playwright's own browser download does not work on these machines, so the
system's Chromium is used (.ci/run installs it). Without it the browser tests
fail with one line saying how to install it: they are never skipped.
"""

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.accounts.factories import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def browser() -> Browser:
    if not CHROMIUM.exists():
        pytest.fail(
            f"the browser tests need Chromium at {CHROMIUM}: apt-get install chromium "
            "(.ci/run installs it)",
            pytrace=False,
        )
    # Playwright's sync API keeps an event loop in the test thread for as long
    # as the browser runs; the tests and their database teardown still reach
    # the database synchronously, which Django refuses while a loop runs.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox"]
            )
            yield browser
            browser.close()


@pytest.fixture
def open_as(browser, live_server):
    """A page in a fresh browser context, logged in as `user` through the login form."""
    contexts = []

    def open_page(user, *, password=PASSWORD, viewport=DESKTOP, **device) -> Page:
        """`password`: the user's (the factories' unless given: the demo has its own).
        `device`: more of the context's options (is_mobile, has_touch for a phone)."""
        context = browser.new_context(viewport=viewport, base_url=live_server.url, **device)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.locator("input[name=login]").fill(user.email)
        page.locator("input[name=password]").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        return page

    yield open_page
    for context in contexts:
        context.close()
