"""[hr.sources.NAME]: secrets from the environment or a file, two during rotation, never inline."""

from __future__ import annotations

from pathlib import Path

import pytest

from accessctl.hr.sources import source_secrets
from accessctl.settings import ConfigError, load_settings
from tests.hr.helpers import NEW_SECRET, NEW_SECRET_TEXT, SECRET, SECRET_TEXT


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "accessctl.toml"
    path.write_text(text)
    return path


def test_secrets_come_from_the_named_variable_and_from_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKDAY_WEBHOOK_SECRETS", f"{SECRET_TEXT} {NEW_SECRET_TEXT}")
    (tmp_path / "bamboo.whsec").write_text(NEW_SECRET_TEXT + "\n")
    path = _config(
        tmp_path,
        '[hr.sources.workday]\nsecret_env = "WORKDAY_WEBHOOK_SECRETS"\n'
        '[hr.sources.bamboo]\nsecret_file = "bamboo.whsec"\n',
    )
    settings = load_settings(path)
    assert source_secrets(settings.hr) == {"workday": [SECRET, NEW_SECRET], "bamboo": [NEW_SECRET]}
    assert SECRET_TEXT in settings.secret_values()
    assert settings.hr.rehire == "restore"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('[hr.sources.w]\nsecret_env = "NOT_SET"\n', "must hold one secret"),
        ("[hr.sources.w]\n", "no secret"),
        ('[hr.sources.w]\nsecret_file = "missing.txt"\n', "cannot read"),
        ('[hr.sources.w]\nsecret = "whsec_x"\n', "unknown setting"),
        ('[hr]\nrehire = "maybe"\n', "hr.rehire"),
    ],
)
def test_a_source_without_a_usable_secret_is_a_config_problem(
    tmp_path: Path, body: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_config(tmp_path, body))
    assert expected in str(caught.value)


def test_three_secrets_or_a_malformed_one_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _config(tmp_path, '[hr.sources.w]\nsecret_env = "W_SECRET"\n')
    monkeypatch.setenv("W_SECRET", " ".join([SECRET_TEXT] * 3))
    with pytest.raises(ConfigError, match="two while rotating"):
        load_settings(path)
    monkeypatch.setenv("W_SECRET", "plain-password")
    with pytest.raises(ConfigError, match="starts with whsec_") as caught:
        load_settings(path)
    assert "plain-password" not in str(caught.value)


def test_a_bamboohr_source_takes_its_private_key_and_api_key_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accessctl.hr.sources import bamboo_sources

    monkeypatch.setenv("BAMBOO_KEY", "private-key-from-bamboohr")
    monkeypatch.setenv("BAMBOO_API_KEY", "api-key-1")
    path = _config(
        tmp_path,
        '[hr.sources.bamboo]\nvendor = "bamboohr"\nsecret_env = "BAMBOO_KEY"\napi_url = "https://acme.bamboohr.com"\n'
        'company_domain = "acme"\napi_key_env = "BAMBOO_API_KEY"\ntimezone = "America/Denver"\n',
    )
    settings = load_settings(path)
    (source,) = bamboo_sources(settings.hr).values()
    assert (source.keys, source.api_key, source.timezone) == (
        [b"private-key-from-bamboohr"],
        "api-key-1",
        "America/Denver",
    )
    assert source_secrets(settings.hr) == {}
    assert "api-key-1" in settings.secret_values()
    assert "api-key-1" not in repr(source) and "private-key" not in repr(source)
