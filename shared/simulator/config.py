"""What a simulated org looks like: its client credentials, token lifetime and model quirks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


@dataclass
class SimulatorConfig:
    client_id: str = "simulator-client-id"
    client_secret: str = "simulator-client-secret"
    token_ttl_seconds: float = 1800.0
    # Salesforce model names the simulated org refuses (404), to make verification visible.
    refused_models: frozenset[str] = frozenset({"sfdc_ai__DefaultBedrockAnthropicClaude41Opus"})
    signing_secret: bytes = field(default_factory=lambda: uuid.uuid4().bytes)
    # When set, the OAuth endpoint fails with this HTTP status (tests flip it at run time).
    oauth_fail_status: int | None = None
    # Bedrock models that take thinking {"type": "adaptive"} (Claude 4.6 and later); the others refuse it.
    adaptive_thinking_models: frozenset[str] = frozenset()
    # Salesforce model name -> seconds every call to it takes before anything else happens.
    slow_models: dict[str, float] = field(default_factory=dict)
