"""The browser the web page's end-to-end tests share: Debian's Chromium through Playwright."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.service.api.browsing import Browsing, browse, launch_chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch_chromium()


@pytest.fixture
def browsing(browser: Browser) -> Iterator[Browsing]:
    yield from browse(browser, {"width": 1200, "height": 900})
