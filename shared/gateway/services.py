"""Process-wide objects: built once per process and reused (Lambda containers keep them warm).

The Salesforce client (httpx, TLS context) is built at the first call that needs it, not at import:
a cold start pays only for what its first request uses, and count_tokens never pays for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from . import redaction
from .anthropic.errors import GatewayError
from .catalog.learned import LearnedFacts
from .catalog.model_map import ModelEntry, ModelMap
from .catalog.verification import ModelVerifier
from .client_auth import ApiKeyCheck
from .salesforce.oauth import Credentials
from .settings import Settings
from .stores.aws import DynamoDBVerificationCache, SSMModelMapSource, salesforce_credentials
from .stores.base import ModelMapSource, VerificationCache
from .stores.local import FileModelMapSource, MemoryVerificationCache

if TYPE_CHECKING:
    from .salesforce.client import SalesforceClient
    from .salesforce.surfaces import Surface


def client_auth(settings: Settings) -> ApiKeyCheck:
    """Client keys from the settings: a key file, the keys table, shared keys, or none (open)."""
    from .keys.store import KeyStore

    store: KeyStore | None = None
    if settings.keys_table:
        from .keys.dynamodb import DynamoDBKeyStore

        store = DynamoDBKeyStore(settings.keys_table)
    elif settings.keys_file:
        from .keys.local import FileKeyStore

        store = FileKeyStore(settings.keys_file)
    return ApiKeyCheck(
        settings.api_keys, store, trust_authorizer=settings.trust_authorizer, cache_ttl=settings.key_cache_ttl
    )


@dataclass
class Services:
    settings: Settings
    model_maps: ModelMapSource
    verification: VerificationCache
    credentials: Callable[[], Credentials]
    auth: ApiKeyCheck = field(init=False)
    verifier: ModelVerifier = field(init=False)
    _client: SalesforceClient | None = field(default=None, init=False)
    _surfaces: dict[str, Surface] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        redaction.register(*self.settings.api_keys, self.settings.sf_client_secret)
        self.auth = client_auth(self.settings)
        self.verifier = ModelVerifier(self.verification, self._probe)

    @property
    def client(self) -> SalesforceClient:
        if self._client is None:
            from .salesforce.client import SalesforceClient

            self._client = SalesforceClient(self.settings, self.credentials)
        return self._client

    @property
    def surfaces(self) -> dict[str, Surface]:
        if self._surfaces is None:
            from .salesforce.surfaces import build_surfaces

            self._surfaces = build_surfaces(self.client, LearnedFacts(self.verification))
        return self._surfaces

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
        credentials: Callable[[], Credentials] = settings.credentials
        if settings.sf_secret_id:
            credentials = partial(salesforce_credentials, settings.sf_secret_id, settings.sf_token_url)
        return cls(settings, model_maps, verification, credentials)

    async def model_map(self) -> ModelMap:
        """The current map; a store that cannot give a first one is the gateway's fault (500), said plainly."""
        try:
            return await self.model_maps.aget()
        except Exception as exc:
            logging.getLogger("gateway").error("model map could not be loaded: %s: %s", type(exc).__name__, exc)
            raise GatewayError("api_error", "The gateway's model map could not be loaded", status=500) from None

    async def _probe(self, entry: ModelEntry) -> bool | None:
        return await self.surfaces[entry.surface].probe(entry)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
