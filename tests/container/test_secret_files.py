"""A ${NAME} of the configuration comes from the file named by NAME_FILE when NAME is
unset (Docker secrets); an unreadable one is one clear error. No container needed."""

from __future__ import annotations

import pytest

from openchargeback.config import load_settings
from openchargeback.domain.errors import ConfigError


def test_a_value_from_a_file(tmp_path, monkeypatch):
    secret = tmp_path / "key"
    secret.write_text("s3cret-from-a-file-0123456789-abcdefghijkl\n")
    cfg = tmp_path / "config.yaml"
    cfg.write_text("server:\n  secret_key: ${OCB_TEST_KEY:-fallback}\n")
    monkeypatch.delenv("OCB_TEST_KEY", raising=False)
    assert load_settings(cfg).server.secret_key == "fallback"
    monkeypatch.setenv("OCB_TEST_KEY_FILE", str(secret))
    assert load_settings(cfg).server.secret_key == "s3cret-from-a-file-0123456789-abcdefghijkl"
    monkeypatch.setenv("OCB_TEST_KEY", "from-the-environment")  # the variable itself wins
    assert load_settings(cfg).server.secret_key == "from-the-environment"
    monkeypatch.delenv("OCB_TEST_KEY")
    monkeypatch.setenv("OCB_TEST_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"server\.secret_key: cannot read OCB_TEST_KEY_FILE=.*missing"):
        load_settings(cfg)
