"""Declared schedules: ``collectors/jobs.yaml`` → APScheduler jobs.

A job is data (name, what it runs, interval, spread, jitter); the code only maps ``runs`` names to
coroutines. A job's runs overlap at most ``overlap`` deep (default 1: never; the SNMP polls allow 2,
so a cycle still waiting for its stragglers' timeouts does not hold the next one — the poller
skips a target whose previous poll is still in flight), late runs coalesce, each run starts with
up to ``jitter_s`` of random delay (an interval shortened by an override shortens the jitter with it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import BaseModel, ConfigDict, Field

from hotspots.datafile import DataFileError, Problem, read_yaml, validate

JOBS_FILE = Path(__file__).resolve().parent / "jobs.yaml"


class Job(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$")]
    runs: str
    interval_s: Annotated[float, Field(gt=0)]
    spread: Annotated[float, Field(ge=0, le=1)] = 0.0
    jitter_s: Annotated[float, Field(ge=0)] = 0.0
    overlap: Annotated[int, Field(ge=1, le=4)] = 1


class JobFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    jobs: list[Job] = Field(min_length=1)


def load_jobs(
    path: str | Path = JOBS_FILE, known: set[str] | None = None, overrides: dict[str, float] | None = None
) -> list[Job]:
    data, lines = read_yaml(path)
    jf = validate(JobFile, data, lines)
    problems = []
    names = set()
    for i, j in enumerate(jf.jobs):
        if j.name in names:
            problems.append(lines.problem(("jobs", i, "name"), f"duplicate job name {j.name!r}"))
        names.add(j.name)
        if known is not None and j.runs not in known:
            problems.append(
                lines.problem(("jobs", i, "runs"), f"unknown runnable {j.runs!r}; known: {', '.join(sorted(known))}")
            )
    for name in overrides or {}:
        if name not in names:
            problems.append(Problem(str(path), None, "", f"interval override for unknown job {name!r}"))
    if problems:
        raise DataFileError(problems)
    out = []
    for j in jf.jobs:
        if overrides and j.name in overrides:
            k = float(overrides[j.name]) / j.interval_s  # jitter keeps its share of the interval
            j = j.model_copy(update={"interval_s": float(overrides[j.name]), "jitter_s": j.jitter_s * min(1.0, k)})
        out.append(j)
    return out


def schedule(
    scheduler: AsyncIOScheduler, jobs: list[Job], runnables: dict[str, Callable[[Job], Awaitable[object]]]
) -> None:
    for j in jobs:
        fn = runnables[j.runs]
        scheduler.add_job(
            fn,
            IntervalTrigger(seconds=j.interval_s, jitter=j.jitter_s or None),
            args=[j],
            id=j.name,
            name=j.name,
            max_instances=j.overlap,
            coalesce=True,
            misfire_grace_time=max(1, int(j.interval_s)),
            next_run_time=_now(scheduler),
        )


def _now(scheduler):
    from datetime import datetime

    return datetime.now(scheduler.timezone)
