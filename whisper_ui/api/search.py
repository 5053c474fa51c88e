"""Search across all of a person's transcripts: `GET /api/search?q=...`.

The index and the query rules are jobs/search.py's (the page searches through the same
object); a query that cannot be searched is a 400 with the reason, never a 500, and
only the caller's own transcripts are ever found.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from whisper_ui.api.deps import OwnerDependency
from whisper_ui.api.errors import ApiError, errors
from whisper_ui.jobs.search import MAX_QUERY_CHARS, MAX_RESULTS, Hit, SearchError
from whisper_ui.services import Services


class HitOut(BaseModel):
    """One matching segment: where it is, and the words around the match."""

    job_id: str
    name: str = Field(description="The file's name")
    segment: int = Field(description="The segment's id in the job's transcript")
    start: float = Field(description="Seconds into the file")
    end: float
    snippet: str = Field(description="Plain text around the match ('…' where cut)")
    marks: list[tuple[int, int]] = Field(
        description="[start, end) character offsets of the matched words in `snippet`"
    )
    created_at: float = Field(description="When the file was sent (Unix time)")

    @classmethod
    def of(cls, hit: Hit) -> HitOut:
        return cls(
            job_id=hit.job_id,
            name=hit.name,
            segment=hit.segment,
            start=hit.start,
            end=hit.end,
            snippet=hit.snippet,
            marks=list(hit.marks),
            created_at=hit.created_at,
        )


class SearchOut(BaseModel):
    query: str
    results: list[HitOut]


def search_router(services: Services, owner: OwnerDependency) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["search"])

    @router.get("/search", response_model=SearchOut, responses=errors(400))
    async def search(
        q: str = Query(
            ...,
            max_length=MAX_QUERY_CHARS * 4,  # longer is refused below with the reason
            description='Words (all must occur), "a phrase", prefix* ',
        ),
        limit: int = Query(50, ge=1, le=MAX_RESULTS),
        who: str = Depends(owner),
    ) -> SearchOut:
        """Segments of the caller's transcripts (corrections included) that match `q`."""
        try:
            hits = services.search.search(who, q, limit)
        except SearchError as exc:
            raise ApiError(400, str(exc), exc.code) from None
        return SearchOut(query=q, results=[HitOut.of(h) for h in hits])

    return router
