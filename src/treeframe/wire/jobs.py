"""``GET /v1/jobs/{job_id}``: a long request run in the background, and where it stands.

A long route called with ``Prefer: respond-async`` answers 202 with this body
and ``Location: /v1/jobs/{job_id}``; polling that URL returns the same shape
until ``state`` is ``succeeded`` (``result`` is the route's normal response)
or ``failed`` (``error`` is the error envelope's ``error`` object).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from treeframe.wire.common import ApiResponse, ErrorBody

__all__ = ["Job", "JobPhase", "JobState"]

JobState = Literal["running", "succeeded", "failed"]


class JobPhase(BaseModel):
    """One progress phase of the job (docs/CLI.md "Progress" lists each operation's phases)."""

    phase: str
    done: int = Field(ge=0)
    total: int | None = Field(default=None, description="None while it is not known.")


class Job(ApiResponse):
    """A background run of one long request."""

    job_id: str = Field(description="32 hex digits; the first 8 name the server instance.")
    state: JobState
    operation: str = Field(description="What runs, e.g. frames.regenerate, workspace.import.")
    workspace: str | None = Field(
        description="The workspace it acts on (None: not known before the run, e.g. an import)."
    )
    progress: list[JobPhase] = Field(description="Each phase reported so far, in first order.")
    started_at: str
    finished_at: str | None = None
    result: dict[str, Any] | None = Field(
        default=None, description="The route's normal JSON response (state succeeded)."
    )
    error: ErrorBody | None = Field(
        default=None, description="The error envelope's error object (state failed)."
    )
