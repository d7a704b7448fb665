"""OpenID Connect fixtures: the browser of the web tests."""

from web.conftest import browser  # noqa: F401
