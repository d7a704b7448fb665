"""A guessable server.secret_key is refused outside dev mode (issue 17, item 9)."""

from __future__ import annotations

import secrets

import pytest

from openchargeback.config import ensure_safe_to_serve
from openchargeback.domain.errors import ConfigError

from ..conftest import web_settings


@pytest.mark.parametrize(
    "key",
    [
        "abcdefghijklmnopqrstuvwxyz012345",
        "qwertyuiopasdfghjklzxcvbnm1234567890",
        "correcthorsebatterystaplecorrecthorse",
        "password1234password1234password1234",
        "0123456789012345678901234567890123456789",
    ],
)
def test_a_guessable_key_is_refused_with_how_to_make_one(tmp_path, key):
    with pytest.raises(ConfigError) as caught:
        ensure_safe_to_serve(web_settings(tmp_path, server={"secret_key": key}))
    assert "secret_key is weak" in caught.value.message and "secrets.token_urlsafe" in caught.value.message
    ensure_safe_to_serve(web_settings(tmp_path, dev_mode=True, server={"secret_key": key}))


def test_random_keys_pass(tmp_path):
    for key in [secrets.token_urlsafe(24) for _ in range(40)] + [secrets.token_hex(16) for _ in range(40)]:
        ensure_safe_to_serve(web_settings(tmp_path, server={"secret_key": key}))
