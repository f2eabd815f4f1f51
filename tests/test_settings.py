"""Settings: TOML file + environment, secrets only from env or files, problems named precisely."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from accessctl.settings import SECTIONS, ConfigError, Settings, check_settings, load_settings

REPO = Path(__file__).resolve().parents[1]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_without_a_config_file() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///accessctl.db"
    assert settings.config_path is None
    assert settings.okta.page_size == 200


def test_file_then_environment_override_every_level(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(
        tmp_path / "a.toml",
        'database_url = "sqlite:///from-file.db"\n'
        '[okta]\norg_url = "https://file.okta.com"\npage_size = 100\n',
    )
    monkeypatch.setenv("ACCESSCTL_DATABASE_URL", "sqlite:///from-env.db")
    monkeypatch.setenv("ACCESSCTL_OKTA_PAGE_SIZE", "50")
    monkeypatch.setenv("ACCESSCTL_SYNC_INACTIVE_DAYS", "30")
    settings = load_settings(config)
    assert settings.database_url == "sqlite:///from-env.db"
    assert settings.okta.org_url == "https://file.okta.com"  # file value kept where env is silent
    assert settings.okta.page_size == 50
    assert settings.sync.inactive_days == 30


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(tmp_path / "elsewhere.toml", "[web]\nport = 9999\n")
    monkeypatch.setenv("ACCESSCTL_CONFIG", str(config))
    assert load_settings().web.port == 9999


def test_an_asked_for_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "missing.toml")
    assert "config file not found" in str(caught.value)


def test_secret_written_in_file_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path / "a.toml", '[okta]\napi_token = "00abc"\n')
    problems = check_settings(config)
    assert [p.key for p in problems] == ["okta.api_token"]
    assert "ACCESSCTL_OKTA_API_TOKEN" in problems[0].reason
    assert "00abc" not in str(problems[0])


def test_secret_from_file_relative_to_config(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "okta-token").write_text("token-from-file\n")
    config = write(
        tmp_path / "a.toml",
        '[okta]\nenabled = true\norg_url = "https://x.okta.com"\napi_token_file = "secrets/okta-token"\n',
    )
    settings = load_settings(config, strict=True)
    assert settings.okta.api_token is not None
    assert settings.okta.api_token.get_secret_value() == "token-from-file"
    assert "token-from-file" not in repr(settings)


def test_unreadable_secret_file_is_named(tmp_path: Path) -> None:
    config = write(tmp_path / "a.toml", '[smtp]\npassword_file = "nope.txt"\n')
    problems = check_settings(config)
    assert len(problems) == 1
    assert problems[0].key == "smtp.password_file"
    assert problems[0].source == str(config)
    assert "nope.txt" in problems[0].reason


def test_missing_secret_of_enabled_provider_names_env_var(tmp_path: Path) -> None:
    config = write(tmp_path / "a.toml", '[entra]\nenabled = true\ntenant_id = "t"\nclient_id = "c"\n')
    problems = check_settings(config)
    assert [(p.source, p.key) for p in problems] == [(str(config), "entra.client_secret")]
    assert "ACCESSCTL_ENTRA_CLIENT_SECRET" in problems[0].reason
    with pytest.raises(ConfigError):
        load_settings(config, strict=True)


def test_unknown_key_and_wrong_type_are_named(tmp_path: Path) -> None:
    config = write(tmp_path / "a.toml", '[okta]\norg_ulr = "x"\npage_size = 500\n[web]\nport = "eighty"\n')
    problems = {p.key: p.reason for p in check_settings(config)}
    assert "unknown setting" in problems["okta.org_ulr"]
    assert "200" in problems["okta.page_size"]  # Okta's real maximum
    assert "web.port" in problems


def test_invalid_toml_is_reported_with_position(tmp_path: Path) -> None:
    config = write(tmp_path / "a.toml", "[okta\n")
    problems = check_settings(config)
    assert problems[0].key == "(file)"
    assert "line 1" in problems[0].reason


def test_example_config_documents_every_setting_with_its_default() -> None:
    example = tomllib.loads((REPO / "config.example.toml").read_text())
    text = (REPO / "config.example.toml").read_text()
    defaults = Settings.model_construct()
    assert example["database_url"] == Settings.model_fields["database_url"].default
    for name, section_cls in SECTIONS.items():
        documented = example[name]
        default_section = getattr(defaults, name)
        for field_name in section_cls.model_fields:
            if field_name in section_cls.SECRETS:
                env_var = f"ACCESSCTL_{name.upper()}_{field_name.upper()}"
                assert env_var in text, f"{env_var} not documented"
                continue
            assert field_name in documented, f"{name}.{field_name} missing from config.example.toml"
            value = getattr(default_section, field_name)
            if isinstance(value, BaseModel):  # a sub-section, e.g. [lifecycle.guard]
                value = value.model_dump()
            written = documented[field_name]
            assert (written == "" and value is None) or written == value, f"{name}.{field_name}"
        assert set(documented) <= set(section_cls.model_fields), f"unknown keys in [{name}]"
    # and the example loads as a valid configuration
    assert check_settings(REPO / "config.example.toml") == []


def test_list_setting_from_environment_json_or_comma_separated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCESSCTL_SYNC_SHARED_ACCOUNT_PATTERNS", "a*, b*")
    monkeypatch.setenv("ACCESSCTL_SYNC_PRIVILEGED_APPS", '["AWS*", "Vault, prod"]')
    settings = load_settings()
    assert settings.sync.shared_account_patterns == ["a*", "b*"]
    assert settings.sync.privileged_apps == ["AWS*", "Vault, prod"]


def test_broken_json_list_in_environment_names_the_variable_and_the_forms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path / "c.toml", "[okta]\nenabled = false\n")
    monkeypatch.setenv("ACCESSCTL_SYNC_SHARED_ACCOUNT_PATTERNS", '["a*",')
    problems = check_settings(config)
    assert [(p.source, p.key) for p in problems] == [
        ("environment ACCESSCTL_SYNC_SHARED_ACCOUNT_PATTERNS", "sync.shared_account_patterns")
    ]
    assert "JSON list" in problems[0].reason and "comma-separated" in problems[0].reason
    with pytest.raises(ConfigError):
        load_settings(config)


def test_wrong_environment_value_is_blamed_on_the_variable_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path / "c.toml", "[okta]\npage_size = 100\n[web]\nport = 'eighty'\n")
    monkeypatch.setenv("ACCESSCTL_OKTA_PAGE_SIZE", "abc")
    monkeypatch.setenv("ACCESSCTL_OKTA_BOGUS", "1")
    problems = {p.key: p.source for p in check_settings(config)}
    assert problems == {
        "okta.page_size": "environment ACCESSCTL_OKTA_PAGE_SIZE",
        "okta.bogus": "environment ACCESSCTL_OKTA_BOGUS",
        "web.port": str(config),  # the file's own mistake stays the file's
    }


def test_every_problem_is_named_not_just_the_first_kind(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", '[okta]\nenabled = true\nbogus = 1\napi_token = "00inline"\n')
    problems = check_settings(config)
    reasons = {p.key: p.reason for p in problems}
    assert "unknown setting" in reasons["okta.bogus"]
    assert "okta.org_url" in reasons
    assert [p.key for p in problems].count("okta.api_token") == 2  # written inline, and so still missing
    assert all(p.source == str(config) for p in problems)
    assert "00inline" not in " ".join(str(p) for p in problems)
