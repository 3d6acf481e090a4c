"""The running sandbox: its state, its configuration and the background work (webhook deliveries, settlements)."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import httpx

from .config import SandboxConfig
from .store import Job, Store

logger = logging.getLogger("payment_core.sandbox")

# Deliveries run side by side, so one slow receiver does not hold back the others.
MAX_CONCURRENT_JOBS = 8

JobRunner = Callable[["Sandbox", httpx.AsyncClient, Job], Awaitable[None]]
"""Does one due job of its kind and finishes (or reschedules) it: `jobs.JOBS` has one per kind."""


@dataclass(frozen=True)
class Origin:
    """The API request an event stems from (Stripe's `event.request`); None for background transitions."""

    request_id: str | None = None
    idempotency_key: str | None = None


class Sandbox:
    """Shared by every request of one sandbox app; reachable as `app.state.sandbox`."""

    def __init__(self, config: SandboxConfig, *, jobs: Mapping[str, JobRunner]) -> None:
        self.config = config
        self.jobs = jobs  # given by the app (jobs.JOBS): the modules that do them import this one
        self.store = Store(config.state_path, fresh=config.fresh)
        # Idempotency keys of requests still executing; in memory because a restart ends them all.
        self.in_flight: set[str] = set()
        self._running_jobs: set[int] = set()
        self._wake: anyio.Event | None = None
        self._running = False

    @property
    def api_version(self) -> str:
        if self.config.api_version:
            return self.config.api_version
        import stripe

        return stripe.api_version

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Sandbox]:
        """Run webhook deliveries and delayed settlements until the context exits.

        The standalone app enters this from its lifespan; a host that mounts the app enters it itself.
        """
        if self._running:
            raise RuntimeError("the sandbox is already running")
        self._running = True
        self._wake = anyio.Event()
        loop = asyncio.get_running_loop()
        # Jobs may be added from any thread (a host calling in from a worker thread), hence threadsafe.
        self.store.on_jobs_added = lambda: loop.call_soon_threadsafe(self._set_wake)
        try:
            async with httpx.AsyncClient(timeout=self.config.webhook_timeout) as client:
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(self._run_jobs, client, tasks)
                    try:
                        yield self
                    finally:
                        tasks.cancel_scope.cancel()
        finally:
            self.store.on_jobs_added = None
            self._running = False

    def _set_wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _run_jobs(self, client: httpx.AsyncClient, tasks: anyio.abc.TaskGroup) -> None:
        limiter = anyio.CapacityLimiter(MAX_CONCURRENT_JOBS)
        while True:
            assert self._wake is not None
            self._wake = anyio.Event()
            for job in self.store.due_jobs(time.time(), self._running_jobs):
                self._running_jobs.add(job.id)
                tasks.start_soon(self._run_job, client, limiter, job)
            next_due = self.store.next_job_due(self._running_jobs)
            timeout = math.inf if next_due is None else max(0.0, next_due - time.time())
            with anyio.move_on_after(timeout):
                await self._wake.wait()

    async def _run_job(self, client: httpx.AsyncClient, limiter: anyio.CapacityLimiter, job: Job) -> None:
        try:
            async with limiter:
                run = self.jobs.get(job.kind)
                if run is not None:
                    await run(self, client, job)
                else:
                    logger.warning("dropping unknown sandbox job %r", job.kind)
                    self.store.finish_job(job.id)
        except Exception:
            logger.exception("sandbox job %s (%s) failed", job.id, job.kind)
            self.store.finish_job(job.id)
        finally:
            self._running_jobs.discard(job.id)
            self._set_wake()
