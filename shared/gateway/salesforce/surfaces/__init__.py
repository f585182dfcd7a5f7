"""One adapter per Salesforce surface; the model map names which one serves a model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...catalog.model_map import SURFACES
from .base import Call, Surface
from .bedrock_invoke import BedrockInvokeSurface
from .chat_generations import ChatGenerationsSurface
from .models_api import ModelsApiSurface
from .responses import ResponsesSurface

if TYPE_CHECKING:
    from ...catalog.learned import LearnedFacts
    from ..client import SalesforceClient

SURFACE_TYPES: dict[str, type[Surface]] = {
    cls.name: cls for cls in (ModelsApiSurface, BedrockInvokeSurface, ChatGenerationsSurface, ResponsesSurface)
}
if tuple(SURFACE_TYPES) != SURFACES:  # the catalog names the surfaces (model_map.SURFACE_DEFAULTS)
    raise RuntimeError(f"surface adapters {tuple(SURFACE_TYPES)} do not match the catalog's {SURFACES}")


def build_surfaces(client: SalesforceClient, learned: LearnedFacts | None = None) -> dict[str, Surface]:
    return {name: cls(client, learned) for name, cls in SURFACE_TYPES.items()}


__all__ = ["SURFACE_TYPES", "Call", "Surface", "build_surfaces"]
