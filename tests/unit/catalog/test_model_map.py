"""The model map: exact ids, aliases, date suffixes, patterns, capabilities and malformed documents."""

from __future__ import annotations

import json

import pytest

from gateway.anthropic.errors import GatewayError
from gateway.catalog.model_map import SURFACES, THINKING_MODES, ModelMap, ModelMapError, default_map_bytes


@pytest.fixture(scope="module")
def default_map() -> ModelMap:
    return ModelMap.default()


def test_default_map_loads(default_map):
    assert len(default_map.entries) >= 10
    assert len(default_map.patterns) >= 4
    assert {e.surface for e in default_map.entries} <= set(SURFACES)
    ids = [e.id for e in default_map.entries]
    assert len(ids) == len(set(ids))
    for entry in default_map.entries:
        assert entry.salesforce_model.startswith("sfdc_ai__")
        assert entry.context_window > 0 and entry.max_output_tokens > 0


def test_default_map_listed_newest_first(default_map):
    listed = default_map.listed()
    assert [e.created_at for e in listed] == sorted((e.created_at for e in listed), reverse=True)
    assert len(listed) == len(default_map.entries)


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        # exact ids
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929"),
        ("gpt-4.1-mini", "gpt-4.1-mini"),
        # aliases
        ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
        ("claude-3-7-sonnet-latest", "claude-3-7-sonnet-20250219"),
        ("claude-sonnet-4-0", "claude-sonnet-4-20250514"),
        # date suffix stripped, then matched as an id or alias
        ("claude-opus-4-5-20991231", "claude-opus-4-5-20251101"),
        ("claude-opus-4-5-latest", "claude-opus-4-5-20251101"),
        ("gpt-5-20250807", "gpt-5"),
        ("gpt-5-latest", "gpt-5"),
        # the catalog's current ids, exact
        ("claude-sonnet-5", "claude-sonnet-5"),
        ("claude-opus-4-8", "claude-opus-4-8"),
        ("claude-opus-4-7", "claude-opus-4-7"),
        ("claude-opus-4-6", "claude-opus-4-6"),
        ("claude-sonnet-4-6", "claude-sonnet-4-6"),
        ("gpt-5.6-luna", "gpt-5.6-luna"),
        # ids newer than the catalog: the newest model of their family
        ("claude-opus-5-5", "claude-opus-4-8"),
        ("claude-opus-5", "claude-opus-4-8"),
        ("claude-3-opus-20240229", "claude-opus-4-8"),
        ("claude-sonnet-5-5", "claude-sonnet-5"),
        ("claude-haiku-5-5", "claude-haiku-4-5-20251001"),
        ("claude-3-5-haiku-20241022", "claude-haiku-4-5-20251001"),
        # other claude-* ids: the newest Sonnet
        ("claude-something-new", "claude-sonnet-5"),
        ("claude-fable-5-2", "claude-sonnet-5"),
        ("gpt-5.7", "gpt-5.4"),
    ],
)
def test_find(default_map, requested, expected):
    entry = default_map.find(requested)
    assert entry is not None, requested
    assert entry.id == expected


@pytest.mark.parametrize("requested", ["gpt-9", "gpt-4o", "gemini-3.0-pro", "", "opus", "xclaude-opus-4-5", "claude"])
def test_find_unknown(default_map, requested):
    assert default_map.find(requested) is None


def test_route_unknown_raises_not_found(default_map):
    with pytest.raises(GatewayError) as caught:
        default_map.route("gpt-9")
    assert caught.value.error_type == "not_found_error"
    assert caught.value.status == 404
    assert "gpt-9" in caught.value.message
    route = default_map.route("claude-opus-5-5")
    assert route.requested == "claude-opus-5-5"
    assert route.entry.id == "claude-opus-4-8"
    assert route.by_pattern


def test_patterns_apply_in_order():
    doc = {
        "models": [
            {"id": "a", "salesforce_model": "sfdc_ai__A", "surface": "models_api"},
            {"id": "b", "salesforce_model": "sfdc_ai__B", "surface": "chat_generations"},
        ],
        "patterns": [{"match": "^x-special", "route_to": "b"}, {"match": "^x-", "route_to": "a"}],
    }
    model_map = ModelMap.from_document(doc)
    assert model_map.find("x-special-1").id == "b"
    assert model_map.find("x-other").id == "a"
    assert model_map.find("y") is None


def test_minimal_entry_gets_defaults():
    model_map = ModelMap.from_json(
        json.dumps({"models": [{"id": "m", "salesforce_model": "sfdc_ai__M", "surface": "bedrock_invoke"}]})
    )
    (entry,) = model_map.entries
    assert entry.display_name == "m"
    assert entry.aliases == ()
    assert entry.listed is True
    assert entry.info()["id"] == "m"
    assert model_map.patterns == []


def test_unlisted_entries_are_routable_but_not_listed():
    model_map = ModelMap.from_document(
        {
            "models": [
                {"id": "shown", "salesforce_model": "sfdc_ai__S", "surface": "models_api"},
                {"id": "hidden", "salesforce_model": "sfdc_ai__H", "surface": "models_api", "listed": False},
            ]
        }
    )
    assert [e.id for e in model_map.listed()] == ["shown"]
    assert model_map.find("hidden").id == "hidden"


_GOOD = {"id": "m", "salesforce_model": "sfdc_ai__M", "surface": "models_api"}


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param([], id="not-an-object"),
        pytest.param({}, id="no-models"),
        pytest.param({"models": {"m": _GOOD}}, id="models-not-a-list"),
        pytest.param({"models": [{"salesforce_model": "sfdc_ai__M", "surface": "models_api"}]}, id="missing-id"),
        pytest.param({"models": [{"id": "m", "surface": "models_api"}]}, id="missing-salesforce-model"),
        pytest.param({"models": [{"id": "m", "salesforce_model": "sfdc_ai__M"}]}, id="missing-surface"),
        pytest.param({"models": [dict(_GOOD, surface="soap_api")]}, id="bad-surface"),
        pytest.param({"models": [dict(_GOOD, context_window="lots")]}, id="bad-context-window"),
        pytest.param({"models": ["m"]}, id="entry-not-an-object"),
        pytest.param({"models": [_GOOD], "patterns": [{"match": "(", "route_to": "m"}]}, id="bad-regex"),
        pytest.param({"models": [_GOOD], "patterns": [{"match": "^m", "route_to": "nope"}]}, id="route-to-unknown"),
        pytest.param({"models": [_GOOD], "patterns": [{"match": "^m"}]}, id="route-to-missing"),
        pytest.param({"models": [_GOOD], "patterns": [{"route_to": "m"}]}, id="match-missing"),
        pytest.param({"models": [_GOOD], "patterns": ["^m"]}, id="pattern-not-an-object"),
        pytest.param({"models": [_GOOD], "patterns": [{"match": 5, "route_to": "m"}]}, id="match-not-a-string"),
    ],
)
def test_malformed_documents_raise_model_map_error(doc):
    with pytest.raises(ModelMapError):
        ModelMap.from_document(doc)


def test_invalid_json_raises_model_map_error():
    with pytest.raises(ModelMapError):
        ModelMap.from_json("{not json")


def test_model_map_entries_say_which_take_adaptive_thinking():
    doc = {
        "models": [
            {"id": "new", "salesforce_model": "sfdc_ai__N", "surface": "bedrock_invoke", "adaptive_thinking": True},
            {"id": "old", "salesforce_model": "sfdc_ai__O", "surface": "bedrock_invoke"},
        ]
    }
    found = ModelMap.from_json(json.dumps(doc))
    assert found.find("new").adaptive_thinking is True
    assert found.find("old").adaptive_thinking is False
    assert found.find("new").thinking == "adaptive"
    assert found.find("old").thinking == "enabled"  # what the Bedrock surface carries when an entry is silent


# Evidence (reference/salesforce-evidence.md, section 1): which Salesforce alias serves each current id.
CATALOG = {
    "claude-sonnet-5": "sfdc_ai__DefaultBedrockAnthropicClaude5Sonnet",
    "claude-opus-4-8": "sfdc_ai__DefaultBedrockAnthropicClaude48Opus",
    "claude-opus-4-7": "sfdc_ai__DefaultBedrockAnthropicClaude47Opus",
    "claude-opus-4-6": "sfdc_ai__DefaultBedrockAnthropicClaude46Opus",
    "claude-sonnet-4-6": "sfdc_ai__DefaultBedrockAnthropicClaude46Sonnet",
    "claude-sonnet-4-5": "sfdc_ai__DefaultBedrockAnthropicClaude45Sonnet",
    "claude-haiku-4-5": "sfdc_ai__DefaultBedrockAnthropicClaude45Haiku",
    "gpt-5.4": "sfdc_ai__DefaultGPT54",
    "gpt-5.6-sol": "sfdc_ai__DefaultGPT56Sol",
}


@pytest.mark.parametrize(("requested", "alias"), sorted(CATALOG.items()))
def test_catalog_serves_each_current_id_with_its_own_model(default_map, requested, alias):
    assert default_map.find(requested).salesforce_model == alias


def test_catalog_thinking_by_generation(default_map):
    adaptive = {e.id for e in default_map.entries if e.thinking == "adaptive"}
    assert adaptive == {"claude-sonnet-5", "claude-opus-4-8", "claude-opus-4-7", "claude-opus-4-6", "claude-sonnet-4-6"}
    assert default_map.find("claude-sonnet-4-5").thinking == "enabled"
    assert default_map.find("claude-3-7-sonnet-latest").thinking == "none"
    assert {e.surface for e in default_map.entries if e.id.startswith("gpt-5")} == {"responses"}


def test_every_entry_states_its_capabilities(default_map):
    doc = json.loads(default_map_bytes())
    stated = {"thinking", "tools", "images", "context_window", "max_output_tokens", "evidence"}
    for raw in doc["models"]:
        assert stated <= raw.keys(), raw["id"]
        assert raw["thinking"] in THINKING_MODES
    assert not any(e.tools for e in default_map.entries if e.surface == "models_api")


def test_capabilities_default_by_surface_for_older_documents():
    doc = {
        "models": [
            {"id": "c", "salesforce_model": "sfdc_ai__C", "surface": "chat_generations"},
            {"id": "m", "salesforce_model": "sfdc_ai__M", "surface": "models_api"},
            {"id": "x", "salesforce_model": "sfdc_ai__X", "surface": "bedrock_invoke", "images": False},
        ]
    }
    found = ModelMap.from_document(doc)
    assert (found.find("c").tools, found.find("c").thinking) == (True, "none")
    assert (found.find("m").tools, found.find("m").images) == (False, False)
    assert (found.find("x").images, found.find("x").tools) == (False, True)
    with pytest.raises(ModelMapError):
        ModelMap.from_document({"models": [dict(doc["models"][0], thinking="sometimes")]})


def test_a_stage_map_extends_the_packaged_catalog():
    """An operator's SSM document adds or replaces entries by id and puts its patterns first."""
    doc = {
        "extends": "packaged",
        "models": [
            {"id": "claude-sonnet-5", "salesforce_model": "sfdc_ai__Pinned", "surface": "bedrock_invoke"},
            {"id": "house-model", "salesforce_model": "sfdc_ai__House", "surface": "chat_generations"},
        ],
        "patterns": [{"match": "^claude-.*-5-5$", "route_to": "house-model"}],
    }
    found = ModelMap.from_document(doc)
    assert found.find("claude-sonnet-5").salesforce_model == "sfdc_ai__Pinned"
    assert found.find("claude-opus-5-5").id == "house-model"
    assert found.find("claude-opus-4-8").salesforce_model == ModelMap.default().find("claude-opus-4-8").salesforce_model
    assert len(found.entries) == len(ModelMap.default().entries) + 1
    assert ModelMap.from_document({"extends": "packaged"}) == ModelMap.default()
    with pytest.raises(ModelMapError):
        ModelMap.from_document({"extends": "https://example.com/map.json"})
