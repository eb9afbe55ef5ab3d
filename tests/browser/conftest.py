"""The headless Chromium fixture, shared by the browser tests."""

from tests.browser.test_swagger_ui import driver  # noqa: F401 - pytest fixture
