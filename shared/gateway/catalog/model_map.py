"""The model map: Anthropic ids, aliases and patterns -> a Salesforce model on one surface.

Ids are matched exactly first (the id or one of its aliases, with or without a date suffix),
then against ordered regex patterns, so ``claude-opus-5-5`` routes without a release.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ..anthropic.errors import model_not_found
from ..jsoncodec import JSONDecodeError, loads

# How a model takes thinking: not at all, as the client asks ("enabled" with a budget, or adaptive when the
# model is new enough), or only "adaptive" with an effort (Claude 4.6 and later refuse "enabled").
THINKING_MODES = ("none", "enabled", "adaptive")
MODELS_NAMED = 4  # how many models that could serve a refused request the refusal names
_DATE_SUFFIX = re.compile(r"-(?:\d{8}|latest)$")


def default_map_bytes() -> bytes:
    """The map shipped with the package (``catalog/default_model_map.json``)."""
    return resources.files(__package__).joinpath("default_model_map.json").read_bytes()


# The Salesforce surfaces, and what each can carry when an entry does not say (a map written for an older
# release still loads). The one list of surfaces: salesforce/surfaces/ has an adapter for each, checked at import.
SURFACE_DEFAULTS = {
    "models_api": {"thinking": "none", "tools": False, "images": False},
    "bedrock_invoke": {"thinking": "enabled", "tools": True, "images": True},
    "chat_generations": {"thinking": "none", "tools": True, "images": False},
    "responses": {"thinking": "enabled", "tools": True, "images": False},
}
SURFACES = tuple(SURFACE_DEFAULTS)


def _capabilities(raw: dict) -> dict:
    found = dict(SURFACE_DEFAULTS.get(raw.get("surface"), SURFACE_DEFAULTS["models_api"]))
    if raw.get("adaptive_thinking"):  # the older field, still read
        found["thinking"] = "adaptive"
    for name in ("thinking", "tools", "images"):
        if name in raw:
            found[name] = raw[name] if name == "thinking" else bool(raw[name])
    return found


class ModelMapError(ValueError):
    """The model map document is malformed; raised at load time, never per request."""


def _extend_packaged(doc: dict) -> dict:
    """``{"extends": "packaged", "models": [...], "patterns": [...]}``: the packaged catalog with these entries
    added or replaced (by id) and these patterns tried first. A stage's SSM parameter starts as just that, so a
    release's catalog reaches every stage and an operator adds one model without copying the whole map."""
    if doc["extends"] != "packaged":
        raise ModelMapError(f"extends: {doc['extends']!r} is not 'packaged'")
    models, patterns = doc.get("models", []), doc.get("patterns", [])
    if not isinstance(models, list) or not isinstance(patterns, list):
        raise ModelMapError("models and patterns must be lists")
    base = loads(default_map_bytes())
    replaced = {m.get("id") for m in models if isinstance(m, dict)}
    return {
        "models": [*models, *(m for m in base["models"] if m["id"] not in replaced)],
        "patterns": [*patterns, *base["patterns"]],
    }


@dataclass(frozen=True, slots=True)
class ModelEntry:
    id: str
    salesforce_model: str
    surface: str
    display_name: str
    created_at: str = "1970-01-01T00:00:00Z"
    context_window: int = 200_000
    max_output_tokens: int = 8192
    aliases: tuple[str, ...] = ()
    listed: bool = True
    # Capabilities, stated once here: the surfaces, the checks and `make check-org` read them.
    thinking: str = "none"  # one of THINKING_MODES
    tools: bool = False
    images: bool = False
    evidence: str = ""  # what public evidence says about this entry on real orgs (README's catalog table)

    @property
    def adaptive_thinking(self) -> bool:
        """Takes thinking only as {"type": "adaptive"} (Claude 4.6+); older ones get "enabled" with a budget."""
        return self.thinking == "adaptive"

    def info(self, model_id: str | None = None) -> dict:
        """Anthropic's ModelInfo for this entry."""
        return {
            "type": "model",
            "id": model_id or self.id,
            "display_name": self.display_name,
            "created_at": self.created_at,
            "max_input_tokens": self.context_window,
            "max_tokens": self.max_output_tokens,
        }


@dataclass(frozen=True, slots=True)
class ModelRoute:
    """A model id as the client sent it, and the entry that serves it."""

    requested: str
    entry: ModelEntry
    by_pattern: bool = False  # a newer id served by an older model: its limits are the entry's


@dataclass(slots=True)
class ModelMap:
    entries: list[ModelEntry]
    patterns: list[tuple[re.Pattern[str], ModelEntry]] = field(default_factory=list)
    _by_name: dict[str, ModelEntry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for entry in self.entries:
            for name in (entry.id, *entry.aliases):
                self._by_name[name] = entry

    @classmethod
    def from_document(cls, doc: Any) -> ModelMap:
        if isinstance(doc, dict) and "extends" in doc:
            doc = _extend_packaged(doc)
        if not isinstance(doc, dict) or not isinstance(doc.get("models"), list):
            raise ModelMapError("model map must be an object with a 'models' list")
        entries = []
        for i, raw in enumerate(doc["models"]):
            if not isinstance(raw, dict):
                raise ModelMapError(f"models[{i}]: must be an object")
            try:
                entry = ModelEntry(
                    id=raw["id"],
                    salesforce_model=raw["salesforce_model"],
                    surface=raw["surface"],
                    display_name=raw.get("display_name", raw["id"]),
                    created_at=raw.get("created_at", "1970-01-01T00:00:00Z"),
                    context_window=int(raw.get("context_window", 200_000)),
                    max_output_tokens=int(raw.get("max_output_tokens", 8192)),
                    aliases=tuple(raw.get("aliases", ())),
                    listed=bool(raw.get("listed", True)),
                    evidence=str(raw.get("evidence", "")),
                    **_capabilities(raw),
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise ModelMapError(f"models[{i}]: {exc!r}") from None
            if entry.thinking not in THINKING_MODES:
                raise ModelMapError(f"models[{i}].thinking: {entry.thinking!r} is not one of {THINKING_MODES}")
            if entry.surface not in SURFACES:
                raise ModelMapError(f"models[{i}].surface: {entry.surface!r} is not one of {SURFACES}")
            entries.append(entry)
        by_id = {e.id: e for e in entries}
        patterns = []
        raw_patterns = doc.get("patterns", [])
        if not isinstance(raw_patterns, list):
            raise ModelMapError("patterns: must be a list")
        for i, raw in enumerate(raw_patterns):
            if not isinstance(raw, dict) or not isinstance(raw.get("match"), str):
                raise ModelMapError(f"patterns[{i}]: must be an object with a string 'match'")
            target = by_id.get(raw.get("route_to"))
            if target is None:
                raise ModelMapError(f"patterns[{i}].route_to: {raw.get('route_to')!r} is not a model id")
            try:
                patterns.append((re.compile(raw["match"]), target))
            except re.error as exc:
                raise ModelMapError(f"patterns[{i}].match: {exc}") from None
        return cls(entries=entries, patterns=patterns)

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelMap:
        try:
            return cls.from_document(loads(text))
        except JSONDecodeError as exc:
            raise ModelMapError(f"model map is not valid JSON: {exc}") from None

    @classmethod
    def default(cls) -> ModelMap:
        return cls.from_json(default_map_bytes())

    def find(self, model_id: str) -> ModelEntry | None:
        found = self._find(model_id)
        return found[0] if found else None

    def _find(self, model_id: str) -> tuple[ModelEntry, bool] | None:
        entry = self._by_name.get(model_id) or self._by_name.get(_DATE_SUFFIX.sub("", model_id))
        if entry is not None:
            return entry, False
        for pattern, target in self.patterns:
            if pattern.search(model_id):
                return target, True
        return None

    def route(self, model_id: str) -> ModelRoute:
        found = self._find(model_id)
        if found is None:
            raise model_not_found(model_id)
        return ModelRoute(model_id, found[0], by_pattern=found[1])

    def naming(self, can: Callable[[ModelEntry], bool], most: int = MODELS_NAMED) -> list[str]:
        """The ids of up to ``most`` listed models that ``can`` serve a request: what a refusal suggests.
        Sorted only here, on the refusal's path, never per request."""
        return [e.id for e in self.listed() if can(e)][:most]

    def listed(self) -> list[ModelEntry]:
        """Entries to show in ``/v1/models``, newest first as Anthropic sorts them."""
        return sorted((e for e in self.entries if e.listed), key=lambda e: (e.created_at, e.id), reverse=True)
