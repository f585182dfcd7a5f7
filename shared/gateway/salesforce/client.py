"""The one HTTP client to Salesforce: auth headers, one re-mint on 401, one retry of a 5xx, status mapping."""

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
from .bodies import read_error_body
from .errors import (
    CallContext,
    empty_answer,
    error_in_200,
    is_error_body,
    map_status,
    repeats_on_retry,
    transport_error,
)
from .http import SalesforceHttp
from .oauth import AccessToken, Credentials, TokenProvider
from .retry import GATEWAY_RETRY_STATUSES, RetryPolicy, retry_after_seconds

log = logging.getLogger("gateway")

# Required on every Models API and LLM Gateway call ("reserved for future use" in the spec).
SALESFORCE_HEADERS = {
    "x-sfdc-app-context": "EinsteinGPT",
    "x-client-feature-id": "ai-platform-models-connected-app",
    "content-type": "application/json",
}


# A 404 on a token this old (seconds) re-mints once before it counts: the spec says 404 can mean a bad token.
OLD_TOKEN_404_AGE = 300.0


def _deadline_error() -> GatewayError:
    return GatewayError("timeout_error", "Salesforce did not answer within the gateway's deadline", backend=True)


def _mint_deadline_error() -> GatewayError:
    return GatewayError(
        "timeout_error", "Salesforce's OAuth endpoint did not answer within the gateway's deadline", backend=True
    )


class SalesforceClient:
    def __init__(
        self,
        settings: Settings,
        credentials: Callable[[], Credentials] | None = None,
        http: SalesforceHttp | None = None,
    ) -> None:
        self.http = http or SalesforceHttp(settings)
        self.retry = RetryPolicy(max_retries=settings.sf_max_retries)
        self.deadline = settings.sf_deadline
        self.tokens = TokenProvider(
            self.http, credentials or settings.credentials, api_base_override=settings.sf_api_base_url
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _token(self, deadline: float, stale: str | None) -> AccessToken:
        """The token, waiting for a mint no longer than the request's deadline (the mint goes on for others)."""
        token = self.tokens.cached(stale)
        if token is not None:
            return token
        try:
            async with asyncio.timeout_at(deadline):
                return await self.tokens.get(stale=stale)
        except TimeoutError:
            raise _mint_deadline_error() from None

    def _token_suspect(self, status: int, token: AccessToken) -> bool:
        return status == 401 or (status == 404 and self.tokens.age(token) >= OLD_TOKEN_404_AGE)

    async def _send(self, path: str, payload: Any, ctx: CallContext, stream: bool) -> httpx.Response:
        """One Salesforce call: a re-mint on 401 (or 404 on an old token), a retry of a 5xx or refused
        connection, every wait (the mint included) within the request's deadline.

        For a stream the deadline covers the wait for the response headers; after that the stream's
        own read timeout applies, and nothing is retried (bytes may already be with the client).
        A 429 is never retried here: the client retries it, after the Retry-After passed on to it.
        """
        content = payload if isinstance(payload, bytes) else dumps(payload)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadline
        stale: str | None = None
        retries = 0
        while True:
            if loop.time() >= deadline:
                raise _deadline_error()
            token = await self._token(deadline, stale)
            headers = dict(SALESFORCE_HEADERS, authorization=f"Bearer {token.value}")
            retry_after: float | None = None
            try:
                async with asyncio.timeout_at(deadline):
                    response = await self.http.send(
                        "POST", token.api_base + path, headers=headers, content=content, stream=stream
                    )
                    status = response.status_code
                    if status < 400:
                        return response
                    try:
                        body = await read_error_body(response)
                    except (httpx.HTTPError, httpx.StreamError):
                        body = b""
                    finally:
                        await response.aclose()
            except TimeoutError:
                raise _deadline_error() from None
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # the request never reached Salesforce
                error = transport_error(exc)
            except httpx.HTTPError as exc:
                raise transport_error(exc) from None
            else:
                if stale is None and self._token_suspect(status, token):
                    stale = token.value  # once: a second refusal with a new token is the answer
                    continue
                error = map_status(status, body, dict(response.headers), ctx)
                if status not in GATEWAY_RETRY_STATUSES or repeats_on_retry(status, body):
                    raise error
                retry_after = retry_after_seconds(response.headers)
            wait = self.retry.delay(retries, retry_after)
            if wait is None or loop.time() + wait >= deadline:
                raise error
            retries += 1
            log.info("Salesforce %s: retry %d in %.2fs", error.error_type, retries, wait)
            await asyncio.sleep(wait)

    async def post_json(self, path: str, payload: Any, ctx: CallContext) -> Any:
        """POST and return the parsed JSON answer; a 200 that carries no answer, or an error, is an error too."""
        response = await self._send(path, payload, ctx, stream=False)
        raw = response.content
        if not raw.strip():
            raise empty_answer()
        try:
            body = loads(raw)
        except ValueError:
            if raw.lstrip()[:1] in (b"{", b"["):  # JSON cut short or garbled
                raise GatewayError(
                    "api_error", "Salesforce returned malformed JSON", status=500, backend=True
                ) from None
            raise error_in_200(raw, ctx) from None  # plain text where JSON belongs: seen under load
        if is_error_body(body):  # seen under load: an error body with status 200
            raise error_in_200(raw, ctx)
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
