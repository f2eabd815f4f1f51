"""Campaign config: defaults, clear errors for bad values (also through `config check`), and the
quarterly schedule on its edges (weekends, New Year, daylight-saving changes)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from accessctl.reviews.schedule import first_working_day, next_run, previous_run
from accessctl.settings import ConfigError, check_settings, load_settings


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "accessctl.toml"
    path.write_text(body)
    return path


def test_a_campaign_with_only_name_and_owner_takes_the_documented_defaults(tmp_path: Path) -> None:
    path = _config(tmp_path, '[[reviews.campaigns]]\nname = "q"\nowner = "Sec@Example.com"\n')
    campaign = load_settings(path).reviews.campaigns[0]
    assert campaign.schedule == "quarterly" and campaign.run_at == "09:00"
    assert campaign.duration_days == 14 and campaign.undecided == "keep" and not campaign.delta_only
    assert campaign.owner == "sec@example.com" and campaign.inactive_days == 90
    assert not campaign.scope.privileged_only and campaign.scope.providers == []


@pytest.mark.parametrize(
    ("entry", "key", "words"),
    [
        ('schedule = "every tuesday"', "reviews.campaigns.0.schedule", "five-field cron"),
        ('schedule = "0 25 * * *"', "reviews.campaigns.0.schedule", "higher than the maximum"),
        ('schedule = "0 9 * * 5-1"', "reviews.campaigns.0.schedule", "runs backwards"),
        ('timezone = "Mars/Olympus"', "reviews.campaigns.0.timezone", "unknown time zone"),
        ('undecided = "forget"', "reviews.campaigns.0.undecided", "'keep', 'revoke' or 'escalate'"),
        ("duration_days = 0", "reviews.campaigns.0.duration_days", "greater than or equal to 1"),
        ('fallback_reviewer = "nobody"', "reviews.campaigns.0.fallback_reviewer", "not an email"),
        ('run_at = "9am"', "reviews.campaigns.0.run_at", "not a time of day"),
        ('scope = { providers = ["aws"] }', "reviews.campaigns.0.scope.providers", "unknown provider 'aws'"),
        ("scope = { everything = true }", "reviews.campaigns.0.scope.everything", "unknown setting"),
    ],
)
def test_a_bad_campaign_setting_is_named_with_its_reason(
    tmp_path: Path, entry: str, key: str, words: str
) -> None:
    path = _config(tmp_path, f'[[reviews.campaigns]]\nname = "q"\nowner = "sec@example.com"\n{entry}\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    problems = [p for p in caught.value.problems if p.key == key]
    assert problems, caught.value.problems
    assert words in problems[0].reason
    assert problems == [p for p in check_settings(path) if p.key == key]


def test_two_campaigns_of_one_name_and_a_missing_owner_are_refused(tmp_path: Path) -> None:
    entry = '[[reviews.campaigns]]\nname = "q"\nowner = "{}"\n'
    body = entry.format("a@x.io") + entry.format("b@x.io")
    reasons = [str(p) for p in check_settings(_config(tmp_path, body))]
    assert any("two campaigns are named 'q'" in r for r in reasons), reasons
    reasons = [str(p) for p in check_settings(_config(tmp_path, '[[reviews.campaigns]]\nname = "q"\n'))]
    assert any("reviews.campaigns.0.owner: Field required" in r for r in reasons), reasons


def test_config_check_exits_3_naming_the_bad_schedule(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from accessctl.cli import app

    path = _config(tmp_path, '[[reviews.campaigns]]\nname = "q"\nowner = "a@x.io"\nschedule = "0 9 * *"\n')
    result = CliRunner().invoke(app, ["--config", str(path), "config", "check"])
    assert result.exit_code == 3
    assert "reviews.campaigns.0.schedule" in result.output and "five-field cron" in result.output


def test_bad_holiday_and_zone_in_the_reviews_section(tmp_path: Path) -> None:
    problems = check_settings(_config(tmp_path, '[reviews]\nholidays = ["13-01"]\ntimezone = "Nowhere"\n'))
    reasons = {p.key: p.reason for p in problems}
    assert "not MM-DD or YYYY-MM-DD" in reasons["reviews.holidays"]
    assert "unknown time zone" in reasons["reviews.timezone"]


def test_smtp_starttls_and_tls_together_are_refused(tmp_path: Path) -> None:
    problems = check_settings(_config(tmp_path, "[smtp]\nstarttls = true\ntls = true\n"))
    assert any("starttls and tls are exclusive" in p.reason for p in problems), problems


# --- the quarterly schedule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "month", "holidays", "expected"),
    [
        (2027, 1, ["01-01"], "2027-01-04"),  # New Year on a Friday: the next Monday
        (2027, 1, [], "2027-01-01"),  # no holidays: Friday 1 January
        (2028, 1, ["01-01"], "2028-01-03"),  # New Year on a Saturday
        (2026, 8, [], "2026-08-03"),  # 1 August 2026 is a Saturday
        (2027, 5, ["2027-05-03"], "2027-05-04"),  # a one-off holiday on the first Monday
        (2028, 10, [], "2028-10-02"),  # Sunday 1 October
    ],
)
def test_first_working_day_skips_weekends_and_holidays(
    year: int, month: int, holidays: list[str], expected: str
) -> None:
    assert first_working_day(year, month, holidays).isoformat() == expected


def test_quarterly_runs_at_nine_local_across_new_year_and_daylight_saving() -> None:
    after = datetime(2026, 12, 2, tzinfo=UTC)
    runs = []
    for _ in range(5):
        run = next_run("quarterly", after=after, zone="Europe/London", holidays=["01-01"])
        assert run is not None
        runs.append(run.isoformat())
        after = run
    assert runs == [
        "2027-01-04T09:00:00+00:00",  # GMT
        "2027-04-01T08:00:00+00:00",  # BST: 09:00 local is 08:00 UTC
        "2027-07-01T08:00:00+00:00",
        "2027-10-01T08:00:00+00:00",  # still BST (ends last Sunday of October)
        "2028-01-03T09:00:00+00:00",  # New Year on a Saturday, GMT again
    ]


def test_quarterly_run_on_the_day_itself_before_and_after_nine() -> None:
    new_york = "America/New_York"
    before = datetime(2027, 4, 1, 12, 59, tzinfo=UTC)  # 08:59 EDT
    assert next_run("quarterly", after=before, zone=new_york) == datetime(2027, 4, 1, 13, tzinfo=UTC)
    at = datetime(2027, 4, 1, 13, tzinfo=UTC)  # strictly after: the next quarter
    assert next_run("quarterly", after=at, zone=new_york) == datetime(2027, 7, 1, 13, tzinfo=UTC)
    # a Tokyo campaign's January run is still on 31 December in UTC
    tokyo = next_run("quarterly", after=datetime(2026, 12, 2, tzinfo=UTC), zone="Asia/Tokyo")
    assert tokyo == datetime(2027, 1, 1, 0, tzinfo=UTC)


def test_cron_schedule_reads_weekdays_as_cron_does_and_keeps_local_time_over_dst() -> None:
    saturday = datetime(2027, 3, 27, 9, tzinfo=UTC)
    # 1 = Monday in cron (APScheduler alone would read Tuesday); Berlin is on CEST from 28 March
    assert next_run("0 9 * * 1", after=saturday, zone="Europe/Berlin") == datetime(2027, 3, 29, 7, tzinfo=UTC)
    assert next_run("0 9 * * 0", after=saturday, zone="Europe/Berlin") == datetime(2027, 3, 28, 7, tzinfo=UTC)
    assert next_run("0 9 * * 7", after=saturday, zone="Europe/Berlin") == datetime(2027, 3, 28, 7, tzinfo=UTC)
    assert next_run("manual", after=saturday, zone="UTC") is None


def test_previous_run_finds_a_missed_quarterly_run() -> None:
    last = previous_run(
        "quarterly", before=datetime(2027, 1, 4, 15, tzinfo=UTC), zone="UTC", holidays=["01-01"]
    )
    assert last == datetime(2027, 1, 4, 9, tzinfo=UTC)
