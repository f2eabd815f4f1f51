"""The service's Prometheus metrics, one registry per app (never the global one).

What the store knows is read at each scrape, so it is right whichever process did the work: jobs by
state, protected skips, and the time to revoke (a leaver's, lockout's or revocation's job from its
creation to its last step done).  What happens in this process is counted here: each step's latency
by provider, action and result, the attempts that will be retried, refused API calls and refused HR
events by reason.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from accessctl.jobs import JobState, StepOutcome, StepView
from accessctl.jobs.tables import JOBS, STEPS
from accessctl.timestamps import utc
from connectors.base import TransientError

#: job kinds that take access away: their time from creation to done is the time to revoke
REVOKE_KINDS = ("leaver", "deprovision", "lockout", "revoke")
REVOKE_BUCKETS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

Execute = Callable[[StepView], Awaitable[StepOutcome]]


class StoreCollector(Collector):
    """Metrics read from the store at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        with self.engine.connect() as conn:
            by_state = dict(
                conn.execute(sa.select(JOBS.c.state, sa.func.count()).group_by(JOBS.c.state)).all()
            )
            protected = conn.execute(
                sa.select(sa.func.count()).select_from(STEPS).where(STEPS.c.result == "skipped: protected")
            ).scalar_one()
            revoked = conn.execute(
                sa.select(JOBS.c.created_at, JOBS.c.finished_at).where(
                    JOBS.c.kind.in_(REVOKE_KINDS),
                    JOBS.c.state == JobState.DONE.value,
                    JOBS.c.dry_run.is_(False),
                    JOBS.c.finished_at.is_not(None),
                )
            ).all()
        jobs = GaugeMetricFamily("accessctl_jobs", "Jobs in the store by state", labels=["state"])
        for state in JobState:
            jobs.add_metric([state.value], by_state.get(state.value, 0))
        yield jobs
        skips = CounterMetricFamily(
            "accessctl_protected_skips", "Steps skipped because their account is protected"
        )
        skips.add_metric([], protected)
        yield skips
        yield _histogram(
            "accessctl_time_to_revoke_seconds",
            "From a leaver, lockout or revoke job's creation to its last step done",
            [(utc(done) - utc(made)).total_seconds() for made, done in revoked],
            REVOKE_BUCKETS,
        )


def _histogram(name: str, doc: str, values: list[float], bounds: tuple[float, ...]) -> HistogramMetricFamily:
    buckets = [(str(bound), sum(1 for v in values if v <= bound)) for bound in bounds]
    buckets.append(("+Inf", len(values)))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=sum(values))


class ServiceMetrics:
    def __init__(self, engine: Engine | None = None) -> None:
        self.registry = CollectorRegistry()
        self.auth_failures = Counter(
            "accessctl_auth_failures",
            "API calls refused, by reason (missing, malformed, unknown, wrong_secret, revoked, scope)",
            ["reason"],
            registry=self.registry,
        )
        self.step_seconds = Histogram(
            "accessctl_step_seconds",
            "How long a step's provider call took, by provider, action and result",
            ["provider", "action", "result"],
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )
        self.step_retries = Counter(
            "accessctl_step_retries",
            "Step attempts that failed transiently (to be retried), by provider and action",
            ["provider", "action"],
            registry=self.registry,
        )
        self.hr_rejections = Counter(
            "accessctl_hr_events_rejected",
            "HR events refused (nothing stored), by reason (signature_mismatch, stale_timestamp, ...)",
            ["reason"],
            registry=self.registry,
        )
        if engine is not None:
            self.registry.register(StoreCollector(engine))

    def hr_rejected(self, reason: str) -> None:
        self.hr_rejections.labels(reason).inc()

    def timed(self, execute: Execute) -> Execute:
        """``execute``, measured: latency per provider, action and result; transient failures counted."""

        async def measured(step: StepView) -> StepOutcome:
            started = time.perf_counter()
            result = "error"
            try:
                outcome = await execute(step)
                result = str(outcome.result)
                return outcome
            except (TransientError, TimeoutError):
                result = "transient"
                self.step_retries.labels(step.provider, step.action).inc()
                raise
            finally:
                self.step_seconds.labels(step.provider, step.action, result).observe(
                    time.perf_counter() - started
                )

        return measured
