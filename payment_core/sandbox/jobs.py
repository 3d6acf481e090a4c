"""The sandbox's background jobs by kind: what the running sandbox does when one falls due.

Kept apart from `runtime.py`, which runs them, because the modules that do the work import
the runtime's `Sandbox`: the app hands this table to the `Sandbox` it creates.
"""

from __future__ import annotations

import httpx

from . import disputes, payments, webhooks
from .runtime import JobRunner, Sandbox
from .store import Job


async def deliver(sandbox: Sandbox, client: httpx.AsyncClient, job: Job) -> None:
    await webhooks.deliver(sandbox, client, job)  # finishes the job, or schedules its retry


async def settle(sandbox: Sandbox, client: httpx.AsyncClient, job: Job) -> None:
    payments.settle(sandbox, job.payload["payment_intent"])
    sandbox.store.finish_job(job.id)


async def open_dispute(sandbox: Sandbox, client: httpx.AsyncClient, job: Job) -> None:
    disputes.open_dispute(sandbox, job.payload["charge"])
    sandbox.store.finish_job(job.id)


JOBS: dict[str, JobRunner] = {"deliver": deliver, "settle": settle, "dispute": open_dispute}
