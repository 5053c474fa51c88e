"""Model names as API clients use them, and OpenAI's GET /v1/models."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from whisper_ui.api.deps import OwnerDependency
from whisper_ui.api.errors import bad_request, errors, not_found
from whisper_ui.services import Services

OPENAI_ALIAS = "whisper-1"


def model_names(services: Services) -> list[str]:
    return [OPENAI_ALIAS, *services.catalog.names()]


def resolve_model(services: Services, name: str | None) -> str:
    """The catalog name to run: whisper-1 (or nothing) is the server's default model.

    Only listed names are accepted, so a client cannot point the server at a path.
    """
    if name is None or name == OPENAI_ALIAS:
        return services.settings.model
    if name not in services.catalog.names():
        choices = ", ".join(model_names(services))
        raise bad_request(f"unknown model {name!r}; choose from {choices}", "model_not_found")
    return name


class ModelObject(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "whisper-ui"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]


def models_router(services: Services, owner: OwnerDependency) -> APIRouter:
    router = APIRouter(prefix="/v1/models", tags=["openai"], dependencies=[Depends(owner)])

    @router.get("", response_model=ModelList, responses=errors())
    async def list_models() -> ModelList:
        """whisper-1 (the server's default model) and every catalog model."""
        return ModelList(data=[ModelObject(id=name) for name in model_names(services)])

    @router.get("/{model_id}", response_model=ModelObject, responses=errors(404))
    async def get_model(model_id: str) -> ModelObject:
        if model_id not in model_names(services):
            raise not_found(f"the model {model_id!r} does not exist", "model_not_found")
        return ModelObject(id=model_id)

    return router
