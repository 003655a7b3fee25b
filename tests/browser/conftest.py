"""The browser tests' fixtures: one JupyterLab and one Chromium per test module, a fresh
page per test."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from helpers import need
from lab_harness import Lab, chromium, running_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    need("chromium")
    with running_lab(tmp_path_factory.mktemp("jupyterlab")) as running:
        yield running


@pytest.fixture(scope="module")
def browser(lab: Lab) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    opened.set_default_timeout(60_000)
    yield opened
    context.close()
