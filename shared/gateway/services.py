"""Process-wide objects: built once per process and reused (Lambda containers keep them warm)."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import redaction
from .client_auth import ApiKeyCheck
from .routing.model_map import ModelEntry, ModelMap
from .routing.verification import ModelVerifier
from .salesforce.client import SalesforceClient
from .salesforce.oauth import Credentials
from .salesforce.surfaces import Surface, build_surfaces
from .settings import Settings, token_url_for
from .stores.aws import DynamoDBVerificationCache, SSMModelMapSource, read_salesforce_secret
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
        redaction.register(*self.settings.api_keys, self.settings.sf_client_secret)
        self.auth = ApiKeyCheck(self.settings.api_keys)
        self.surfaces = build_surfaces(self.client)
        self.verifier = ModelVerifier(self.verification, self._probe)

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        """Local stores (file, memory) unless the settings name AWS ones (SSM, DynamoDB, Secrets Manager)."""
        model_maps: ModelMapSource
        verification: VerificationCache
        if settings.model_map_parameter:
            model_maps = SSMModelMapSource(settings.model_map_parameter, max_age=settings.model_map_max_age)
        else:
            model_maps = FileModelMapSource(settings.model_map_path, max_age=settings.model_map_max_age)
        if settings.verification_table:
            verification = DynamoDBVerificationCache(settings.verification_table, ttl=settings.verification_ttl)
        else:
            verification = MemoryVerificationCache(ttl=settings.verification_ttl)
        credentials = settings.credentials
        if settings.sf_secret_id:
            secret_id = settings.sf_secret_id

            def credentials() -> Credentials:
                secret = read_salesforce_secret(secret_id)
                url = settings.sf_token_url or secret.get("token_url") or token_url_for(secret.get("my_domain", ""))
                return Credentials(url, secret.get("client_id", ""), secret.get("client_secret", ""))

        return cls(settings, model_maps, verification, SalesforceClient(settings, credentials))

    def model_map(self) -> ModelMap:
        return self.model_maps.get()

    async def _probe(self, entry: ModelEntry) -> bool | None:
        return await self.surfaces[entry.surface].probe(entry)

    async def aclose(self) -> None:
        await self.client.aclose()
