"""Configuration from environment variables, read once per process."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .salesforce.oauth import Credentials


def _float(env: dict, name: str, default: float) -> float:
    raw = env.get(name)
    return float(raw) if raw not in (None, "") else default


@dataclass(frozen=True, slots=True)
class Settings:
    # Salesforce
    sf_my_domain: str | None = None
    sf_client_id: str | None = field(default=None, repr=False)
    sf_client_secret: str | None = field(default=None, repr=False)
    sf_token_url: str | None = None  # overrides the URL derived from the My Domain
    sf_api_base_url: str | None = None  # overrides the token's api_instance_url
    sf_connect_timeout: float = 10.0
    sf_read_timeout: float = 300.0
    sf_max_retries: int = 1  # of a 5xx or refused connection before the first byte; never of a 429
    sf_deadline: float = 600.0  # seconds per request until Salesforce starts answering, retries included
    # Gateway
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    keys_file: str | None = None  # per-developer keys in a JSON file (make run; python -m gateway.keys)
    keys_table: str | None = None  # per-developer keys in DynamoDB (deployment)
    trust_authorizer: bool = False  # the developer comes from API Gateway's authorizer context
    key_cache_ttl: float = 60.0  # seconds a looked-up key is trusted in this process (revocation delay)
    model_map_path: str | None = None
    model_map_parameter: str | None = None  # SSM parameter name (deployment)
    verification_table: str | None = None  # DynamoDB table name (deployment)
    sf_secret_id: str | None = None  # Secrets Manager id of the Salesforce credentials (deployment)
    model_map_max_age: float = 300.0
    verification_ttl: float = 3600.0
    max_body_bytes: int = 32 * 1024 * 1024
    # Parsing multiplies memory by up to ~100 bytes per JSON value; this bounds one request's peak.
    max_json_values: int = 2_000_000
    stream_keepalive: float = 15.0  # seconds of backend silence before a ping
    stream_grace: float = 10.0  # seconds to wait for the backend before committing to a 200 stream

    @classmethod
    def from_env(cls, env: dict | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        keys = tuple(k.strip() for k in env.get("GATEWAY_API_KEYS", "").split(",") if k.strip())
        return cls(
            sf_my_domain=env.get("SF_MY_DOMAIN") or None,
            sf_client_id=env.get("SF_CLIENT_ID") or None,
            sf_client_secret=env.get("SF_CLIENT_SECRET") or None,
            sf_token_url=env.get("SF_TOKEN_URL") or None,
            sf_api_base_url=env.get("SF_API_BASE_URL") or None,
            sf_connect_timeout=_float(env, "SF_CONNECT_TIMEOUT", 10.0),
            sf_read_timeout=_float(env, "SF_READ_TIMEOUT", 300.0),
            sf_max_retries=int(_float(env, "SF_MAX_RETRIES", 1)),
            sf_deadline=_float(env, "SF_DEADLINE_SECONDS", 600.0),
            api_keys=keys,
            keys_file=env.get("GATEWAY_KEYS_FILE") or None,
            keys_table=env.get("KEYS_TABLE") or None,
            trust_authorizer=env.get("GATEWAY_TRUST_AUTHORIZER", "").lower() in ("1", "true", "yes"),
            key_cache_ttl=_float(env, "KEY_CACHE_SECONDS", 60.0),
            model_map_path=env.get("MODEL_MAP_PATH") or None,
            model_map_parameter=env.get("MODEL_MAP_PARAMETER") or None,
            verification_table=env.get("VERIFICATION_TABLE") or None,
            sf_secret_id=env.get("SF_SECRET_ID") or None,
            model_map_max_age=_float(env, "MODEL_MAP_MAX_AGE", 300.0),
            verification_ttl=_float(env, "MODEL_VERIFICATION_TTL", 3600.0),
            stream_keepalive=_float(env, "STREAM_KEEPALIVE_SECONDS", 15.0),
            stream_grace=_float(env, "STREAM_GRACE_SECONDS", 10.0),
            max_body_bytes=int(_float(env, "MAX_BODY_BYTES", 32 * 1024 * 1024)),
            max_json_values=int(_float(env, "MAX_JSON_VALUES", 2_000_000)),
        )

    @property
    def has_salesforce_credentials(self) -> bool:
        if self.sf_secret_id:
            return True
        return bool((self.sf_my_domain or self.sf_token_url) and self.sf_client_id and self.sf_client_secret)

    @property
    def token_url(self) -> str:
        return self.sf_token_url or token_url_for(self.sf_my_domain or "")

    def credentials(self) -> Credentials:
        """Credentials from the environment; a deployment reads them from Secrets Manager instead."""
        require_salesforce(
            {
                "SF_MY_DOMAIN (or SF_TOKEN_URL)": self.sf_token_url or self.sf_my_domain,
                "SF_CLIENT_ID": self.sf_client_id,
                "SF_CLIENT_SECRET": self.sf_client_secret,
            },
            "in the gateway's environment",
        )
        return Credentials(self.token_url, self.sf_client_id or "", self.sf_client_secret or "")


PLACEHOLDER = "CHANGE-ME"  # what the template's Salesforce secret starts with


def require_salesforce(values: dict[str, str | None], where: str) -> None:
    """A clear Anthropic-format error naming what is missing, instead of a failure deep in httpx
    (an empty My Domain makes the host ``.my.salesforce.com``, which fails IDNA encoding)."""
    missing = [name for name, value in values.items() if not value or not value.strip() or value == PLACEHOLDER]
    if missing:
        from .anthropic.errors import GatewayError

        raise GatewayError(
            "api_error", f"The gateway is not configured for Salesforce: set {', '.join(missing)} {where}", status=500
        )


def token_url_for(my_domain: str) -> str:
    """``acme`` or ``acme.my.salesforce.com`` or a full URL -> the OAuth token endpoint."""
    domain = my_domain.strip().rstrip("/")
    if "://" in domain:
        return f"{domain}/services/oauth2/token"
    if not domain.endswith(".salesforce.com"):
        domain = f"{domain}.my.salesforce.com"
    return f"https://{domain}/services/oauth2/token"
