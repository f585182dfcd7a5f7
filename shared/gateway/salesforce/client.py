"""The one pooled HTTP client to Salesforce: auth headers, one re-mint on 401, status mapping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from ..anthropic.errors import GatewayError
from ..jsoncodec import dumps, loads
from ..settings import Settings
from .errors import CallContext, backend_message, map_status, transport_error
from .oauth import Credentials, TokenProvider
from .retry import RETRYABLE_STATUSES, RetryPolicy, retry_after_seconds
from .transport import Transport

log = logging.getLogger("gateway")

# Required on every Models API and LLM Gateway call ("reserved for future use" in the spec).
SALESFORCE_HEADERS = {
    "x-sfdc-app-context": "EinsteinGPT",
    "x-client-feature-id": "ai-platform-models-connected-app",
    "content-type": "application/json",
}


def _deadline_error() -> GatewayError:
    return GatewayError("timeout_error", "Salesforce did not answer within the gateway's deadline", backend=True)


class SalesforceClient:
    def __init__(
        self,
        settings: Settings,
        credentials: Callable[[], Credentials] | None = None,
        http: Transport | None = None,
    ) -> None:
        self.http = http or Transport(settings)
        self.retry = RetryPolicy(max_retries=settings.sf_max_retries)
        self.deadline = settings.sf_deadline
        self.tokens = TokenProvider(
            self.http, credentials or settings.credentials, api_base_override=settings.sf_api_base_url
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _send(self, path: str, payload: Any, ctx: CallContext, stream: bool) -> httpx.Response:
        """One Salesforce call: a re-mint on 401, retries on retryable failures, all within the deadline.

        For a stream the deadline covers the wait for the response headers; after that the stream's
        own read timeout applies, and nothing is retried (bytes may already be with the client).
        """
        content = payload if isinstance(payload, bytes) else dumps(payload)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadline
        stale: str | None = None
        retries = 0
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise _deadline_error()
            token = await self.tokens.get(stale=stale)
            headers = dict(SALESFORCE_HEADERS, authorization=f"Bearer {token.value}")
            retry_after: float | None = None
            try:
                async with asyncio.timeout(remaining):
                    response = await self.http.send(
                        "POST", token.api_base + path, headers=headers, content=content, stream=stream
                    )
            except TimeoutError:
                raise _deadline_error() from None
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # the request never reached Salesforce
                error = transport_error(exc)
            except httpx.HTTPError as exc:
                raise transport_error(exc) from None
            else:
                status = response.status_code
                if status < 400:
                    return response
                if status == 401 and stale is None:
                    await response.aclose()
                    stale = token.value
                    continue
                try:
                    body = await response.aread()
                except (httpx.HTTPError, httpx.StreamError):
                    body = b""
                finally:
                    await response.aclose()
                error = map_status(status, body, dict(response.headers), ctx)
                if status not in RETRYABLE_STATUSES:
                    raise error
                retry_after = retry_after_seconds(response.headers)
            wait = self.retry.delay(retries, retry_after)
            if wait is None or loop.time() + wait >= deadline:
                raise error
            retries += 1
            log.info("Salesforce %s: retry %d in %.2fs", error.error_type, retries, wait)
            await asyncio.sleep(wait)

    async def post_json(self, path: str, payload: Any, ctx: CallContext) -> Any:
        """POST and return the parsed JSON answer; a 200 that carries no answer is an error too."""
        response = await self._send(path, payload, ctx, stream=False)
        if not response.content.strip():
            raise GatewayError("overloaded_error", "Salesforce returned an empty answer", backend=True)
        try:
            body = loads(response.content)
        except ValueError:
            raise GatewayError("api_error", "Salesforce returned malformed JSON", status=500, backend=True) from None
        if isinstance(body, dict) and "errorCode" in body:  # seen under load: an error body with status 200
            raise GatewayError(
                "overloaded_error",
                f"Salesforce answered with an error: {backend_message(response.content)}",
                backend=True,
            )
        return body

    @asynccontextmanager
    async def post_stream(self, path: str, payload: Any, ctx: CallContext) -> AsyncIterator[httpx.Response]:
        """POST and hand over the open response once its status is known to be good."""
        response = await self._send(path, payload, ctx, stream=True)
        try:
            yield response
        except httpx.HTTPError as exc:  # a read timeout or a dropped connection, mid-stream
            raise transport_error(exc) from None
        finally:
            await response.aclose()
