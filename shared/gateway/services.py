"""Process-wide objects: built once per process and reused (Lambda containers keep them warm)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .client_auth import ApiKeyCheck
from .routing.model_map import ModelEntry, ModelMap
from .routing.verification import ModelVerifier
from .salesforce.client import SalesforceClient
from .salesforce.surfaces import Surface, build_surfaces
from .settings import Settings
from .stores.base import ModelMapSource, VerificationCache
from .stores.local import FileModelMapSource, MemoryVerificationCache


@dataclass
class Services:
    settings: Settings
    model_maps: ModelMapSource
    verification: VerificationCache
    client: SalesforceClient
    auth: ApiKeyCheck = field(init=False)
    surfaces: dict[str, Surface] = field(init=False)
    verifier: ModelVerifier = field(init=False)

    def __post_init__(self) -> None:
        self.auth = ApiKeyCheck(self.settings.api_keys)
        self.surfaces = build_surfaces(self.client)
        self.verifier = ModelVerifier(self.verification, self._probe)

    @classmethod
    def local(cls, settings: Settings) -> Services:
        return cls(
            settings=settings,
            model_maps=FileModelMapSource(settings.model_map_path, max_age=settings.model_map_max_age),
            verification=MemoryVerificationCache(ttl=settings.verification_ttl),
            client=SalesforceClient(settings),
        )

    def model_map(self) -> ModelMap:
        return self.model_maps.get()

    async def _probe(self, entry: ModelEntry) -> bool | None:
        return await self.surfaces[entry.surface].probe(entry)

    async def aclose(self) -> None:
        await self.client.aclose()
