"""When a campaign runs: ``quarterly`` (a time on the first working day of January, April, July and
October, in the campaign's time zone), a five-field cron expression, or ``manual`` (never by itself).

A working day is Monday to Friday and not a configured holiday (``MM-DD`` every year, or
``YYYY-MM-DD`` once).  Times are computed in the zone and returned in UTC, so a daylight-saving
change moves the UTC instant, never the local 09:00.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

QUARTER_MONTHS = (1, 4, 7, 10)


_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _cron_weekdays(field: str) -> str:
    """A cron weekday field (0 or 7 = Sunday, names, ranges, steps) as APScheduler 3 reads it (whose
    numbers start at Monday): the days by name."""
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.lower().split(","):
        spec, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"weekday step {step_text!r} must be at least 1")
        if spec == "*":
            first, last = 0, 6
        else:
            low, _, high = spec.partition("-")
            first = _weekday_number(low)
            last = _weekday_number(high) if high else (6 if step_text else first)
            if last < first:
                raise ValueError(f"weekday range {spec!r} runs backwards")
        days.update(day % 7 for day in range(first, last + 1, step))
    return ",".join(_WEEKDAYS[day] for day in sorted(days))


def _weekday_number(text: str) -> int:
    if text in _WEEKDAYS:
        return _WEEKDAYS.index(text)
    if text.isdigit() and int(text) <= 7:
        return int(text)
    raise ValueError(f"weekday {text!r} is not 0-7 or a day name (sun, mon, ...)")


def _cron_trigger(expression: str, zone: ZoneInfo) -> Any:
    from apscheduler.triggers.cron import CronTrigger

    minute, hour, day, month, weekday = expression.split()
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_cron_weekdays(weekday),
        timezone=zone,
    )


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not a usable five-field cron expression, or None."""
    if len(expression.split()) != 5:
        return (
            f"schedule {expression!r} is neither 'quarterly', 'manual' nor a five-field cron "
            "expression (minute hour day month weekday, e.g. '0 9 1 */3 *')"
        )
    try:
        _cron_trigger(expression, ZoneInfo("UTC"))
    except ValueError as exc:
        return f"schedule {expression!r} is not a valid cron expression: {exc}"
    return None


def is_working_day(day: date, holidays: Sequence[str]) -> bool:
    if day.weekday() >= 5:
        return False
    return day.isoformat() not in holidays and day.strftime("%m-%d") not in holidays


def first_working_day(year: int, month: int, holidays: Sequence[str]) -> date:
    day = date(year, month, 1)
    while not is_working_day(day, holidays):
        day += timedelta(days=1)
    return day


def next_run(
    schedule: str,
    *,
    after: datetime,
    zone: str,
    holidays: Sequence[str] = (),
    run_at: str = "09:00",
) -> datetime | None:
    """The first run strictly after ``after`` (aware), in UTC; None for ``manual``."""
    tz = ZoneInfo(zone)
    if schedule == "manual":
        return None
    if schedule == "quarterly":
        at = time.fromisoformat(run_at)
        local = after.astimezone(tz)
        for year in (local.year, local.year + 1):
            for month in QUARTER_MONTHS:
                day = first_working_day(year, month, holidays)
                candidate = datetime.combine(day, at, tzinfo=tz).astimezone(UTC)
                if candidate > after:
                    return candidate
        raise AssertionError("no quarter found")  # unreachable: next year always has one
    trigger = _cron_trigger(schedule, tz)
    fire = trigger.get_next_fire_time(None, after.astimezone(tz) + timedelta(seconds=1))
    return None if fire is None else fire.astimezone(UTC)


def previous_run(
    schedule: str,
    *,
    before: datetime,
    zone: str,
    holidays: Sequence[str] = (),
    run_at: str = "09:00",
) -> datetime | None:
    """The last scheduled run at or before ``before`` within the last year (a missed run fires once on
    start), or None."""
    start = before - timedelta(days=366)
    last = None
    current = next_run(schedule, after=start, zone=zone, holidays=holidays, run_at=run_at)
    steps = 0
    while current is not None and current <= before and steps < 100_000:
        last = current
        current = next_run(schedule, after=current, zone=zone, holidays=holidays, run_at=run_at)
        steps += 1
    return last
