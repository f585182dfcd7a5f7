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
    # Bedrock models that take thinking only as {"type": "adaptive"} (Claude 4.6 and later): "enabled" is a 400
    # (SFCP, "verified by live test"). The others refuse "adaptive" (Bedrock's own schema).
    adaptive_thinking_models: frozenset[str] = frozenset(
        {
            "sfdc_ai__DefaultBedrockAnthropicClaude46Sonnet",
            "sfdc_ai__DefaultBedrockAnthropicClaude46Opus",
            "sfdc_ai__DefaultBedrockAnthropicClaude47Opus",
            "sfdc_ai__DefaultBedrockAnthropicClaude48Opus",
            "sfdc_ai__DefaultBedrockAnthropicClaude5Sonnet",
        }
    )
    # Bedrock models other than those answer thinking, thinking/redacted_thinking history blocks and
    # anthropic_beta with a 502 "No user context has been created!" (SFCP, on real orgs). False: they take them.
    older_models_refuse_thinking: bool = True
    # Salesforce model name -> seconds every call to it takes before anything else happens.
    slow_models: dict[str, float] = field(default_factory=dict)
    # How chat/generations streams end, taken in turn stream after stream: "[DONE]" (in an
    # ``event: generation`` frame, as SFCP saw) and the bare "DONE" CODEY also accepts.
    chat_stream_ends: tuple[str, ...] = ("[DONE]", "DONE")
    # A directory of exchanges recorded by `make check-org ARGS="--record DIR"`: matching requests get the
    # recorded answers, the rest the simulator's own (SIMULATOR_REPLAY for `make run`).
    replay_dir: str | None = None
    # The status a token the org does not accept gets: 401, or 404 as SKILL reports for a token that is not
    # an org JWT (salesforce-evidence.md, OAuth).
    invalid_token_status: int = 401
    # The shape error bodies take: "salesforce" ({errorCode, messageCode, message}), "list" (a list of those),
    # "oauth" ({error, error_description}), "openai" ({error: {message, code}}), "message" ({message}, as the
    # Bedrock-style surface), or "text" (plain text). Sources report each; none says which surface uses which.
    error_shape: str = "salesforce"
