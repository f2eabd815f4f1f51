"""A plan's live reads wait out the provider's rate limit (1,000 leavers planned at once met Okta's
429s, and each failed its use case) and give up only after their tries."""

from __future__ import annotations

import asyncio

import pytest

from accessctl.lifecycle import patience
from connectors.base import NotFoundError, TransientError


def test_a_throttled_read_is_tried_again_after_the_providers_retry_after() -> None:
    answers: list[object] = [
        TransientError("429", provider="okta", status=429, retry_after=0.02),
        TransientError("503", provider="okta", status=503),
        "the account",
    ]
    asked: list[str] = []

    async def find_account(*, external_id: str) -> object:
        asked.append(external_id)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert asyncio.run(patience.patiently(find_account, external_id="00u1")) == "the account"
    assert asked == ["00u1"] * 3


def test_an_answer_that_is_not_transient_is_not_retried() -> None:
    calls = []

    async def find_account() -> None:
        calls.append(1)
        raise NotFoundError("gone", provider="okta", status=404)

    with pytest.raises(NotFoundError):
        asyncio.run(patience.patiently(find_account))
    assert calls == [1]


def test_a_provider_that_stays_throttled_fails_the_plan_after_its_tries(monkeypatch) -> None:
    monkeypatch.setattr(patience, "MAX_WAIT_S", 0.01)
    calls = []

    async def find_account() -> None:
        calls.append(1)
        raise TransientError("429", provider="okta", status=429, retry_after=60)

    with pytest.raises(TransientError):
        asyncio.run(patience.patiently(find_account))
    assert len(calls) == patience.TRIES
