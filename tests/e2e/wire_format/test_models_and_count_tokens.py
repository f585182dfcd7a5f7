"""``/v1/models`` (listing, paging, verification, retrieval, pattern routing) and ``count_tokens``.

Everything goes through the real anthropic SDK (or raw httpx for wire-level checks) against the
gateway in front of the Salesforce simulator.
"""

from __future__ import annotations

import base64
import json
import struct
import time
import zlib
from datetime import datetime

import anthropic
import pytest

from gateway.catalog.model_map import default_map_bytes
from simulator.app import SimulatorConfig

DEFAULT_MAP = json.loads(default_map_bytes())
REFUSED_BY_DEFAULT = "sfdc_ai__DefaultBedrockAnthropicClaude41Opus"


def _entries(refused: frozenset[str] = frozenset({REFUSED_BY_DEFAULT})) -> list[dict]:
    """Default-map entries the simulator answers for, newest first (ties by id, descending)."""
    kept = [m for m in DEFAULT_MAP["models"] if m["salesforce_model"] not in refused and m.get("listed", True)]
    return sorted(kept, key=lambda m: (m["created_at"], m["id"]), reverse=True)


EXPECTED_IDS = [m["id"] for m in _entries()]


# --- helpers -------------------------------------------------------------------------------------


def _png(width: int, height: int) -> bytes:
    """A real, decodable greyscale PNG of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = b"\x00" + bytes(x % 256 for x in range(width))  # filter byte, then one byte per pixel
    raw = row * height
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _count(client: anthropic.Anthropic, **kwargs) -> int:
    kwargs.setdefault("model", "claude-sonnet-4-5")
    return client.messages.count_tokens(**kwargs).input_tokens


def _user(content) -> list[dict]:
    return [{"role": "user", "content": content}]


WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "City name"}},
        "required": ["city"],
    },
}


# --- listing and paging ----------------------------------------------------------------------------


def test_auto_pagination_lists_every_verified_model(client):
    ids = [m.id for m in client.models.list()]
    assert ids == EXPECTED_IDS
    assert len(ids) == len(set(ids))


def test_models_sorted_newest_first(client):
    models = list(client.models.list(limit=1000))
    created = [m.created_at for m in models]
    assert all(isinstance(c, datetime) for c in created)
    assert created == sorted(created, reverse=True)
    assert len(models) == len(EXPECTED_IDS)


def test_small_pages_are_consistent_and_match_one_big_page(client):
    whole = client.models.list(limit=1000)
    assert whole.has_more is False
    all_ids = [m.id for m in whole.data]
    assert whole.first_id == all_ids[0]
    assert whole.last_id == all_ids[-1]

    seen: list[str] = []
    pages = list(client.models.list(limit=2).iter_pages())
    assert len(pages) == (len(all_ids) + 1) // 2
    for n, page in enumerate(pages):
        ids = [m.id for m in page.data]
        assert len(ids) == min(2, len(all_ids) - 2 * n)  # full pages, then what is left
        assert page.first_id == ids[0]
        assert page.last_id == ids[-1]
        assert page.has_more is (n < len(pages) - 1)
        seen += ids
    assert seen == all_ids


def test_after_id_continues_after_the_cursor(client):
    all_ids = [m.id for m in client.models.list(limit=1000).data]
    page = client.models.list(after_id=all_ids[2], limit=3)
    assert [m.id for m in page.data] == all_ids[3:6]
    assert page.has_more is (len(all_ids) > 6)


def test_before_id_pages_backwards(client):
    all_ids = [m.id for m in client.models.list(limit=1000).data]
    cursor = len(all_ids) - 2
    page = client.models.list(before_id=all_ids[cursor], limit=2)
    assert [m.id for m in page.data] == all_ids[cursor - 2 : cursor]
    assert page.first_id == all_ids[cursor - 2]
    assert page.last_id == all_ids[cursor - 1]
    assert page.has_more is True

    # Walking back page by page reaches the newest model and then stops.
    pages = list(page.iter_pages())
    collected: list[str] = []
    for p in pages:
        ids = [m.id for m in p.data]
        start = all_ids.index(ids[0])
        assert ids == all_ids[start : start + len(ids)], "each page is a contiguous, newest-first slice"
        collected += ids
    assert pages[-1].has_more is False
    assert pages[-1].first_id == all_ids[0]
    assert sorted(collected) == sorted(all_ids[:cursor])
    assert len(collected) == cursor

    # The first model has nothing before it.
    first = client.models.list(before_id=all_ids[0], limit=5)
    assert first.data == []
    assert first.has_more is False


@pytest.mark.parametrize("limit", [0, 1001, -1])
def test_out_of_range_limit_is_bad_request(client, limit):
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.models.list(limit=limit)
    assert caught.value.status_code == 400
    assert caught.value.body["error"]["type"] == "invalid_request_error"


def test_limit_bounds_are_inclusive(client):
    assert len(client.models.list(limit=1).data) == 1
    assert len(client.models.list(limit=1000).data) == len(EXPECTED_IDS)


def test_unknown_cursor_is_bad_request(client):
    with pytest.raises(anthropic.BadRequestError):
        client.models.list(after_id="claude-nonexistent-model-0")


def test_list_is_fast_and_claude_ids_start_with_claude(make_stack):
    fresh = make_stack()  # nothing verified yet: the first call has to probe every model
    with fresh.http() as http:
        for _ in range(2):
            started = time.monotonic()
            response = http.get("/v1/models", params={"limit": 1000})
            elapsed = time.monotonic() - started
            assert response.status_code == 200
            assert elapsed < 3.0, f"GET /v1/models took {elapsed:.2f}s"
    body = response.json()
    assert body["has_more"] is False
    claude = [m for m in body["data"] if m["display_name"].startswith("Claude")]
    assert claude
    assert all(m["id"].startswith("claude") for m in claude)
    for m in body["data"]:
        assert m["type"] == "model"
        assert set(m) >= {"id", "display_name", "created_at"}


# --- verification ----------------------------------------------------------------------------------


def test_refused_model_is_hidden_and_not_retrievable(client):
    ids = [m.id for m in client.models.list(limit=1000)]
    assert "claude-opus-4-1-20250805" not in ids
    for model_id in ("claude-opus-4-1", "claude-opus-4-1-20250805"):
        with pytest.raises(anthropic.NotFoundError) as caught:
            client.models.retrieve(model_id)
        assert caught.value.body["error"]["type"] == "not_found_error"
    # Every other listed entry of the default map is listed.
    expected = {m["id"] for m in DEFAULT_MAP["models"] if m["salesforce_model"] != REFUSED_BY_DEFAULT}
    assert set(ids) == expected


def test_probes_are_cached(make_stack):
    fresh = make_stack()
    client = fresh.client()
    assert fresh.backend_requests() == []
    first = [m.id for m in client.models.list(limit=1000)]
    probes = len(fresh.backend_requests())
    assert probes >= len(DEFAULT_MAP["models"])  # every entry probed once (the refusal included)
    probed_paths = {r["path"] for r in fresh.backend_requests()}
    assert any(REFUSED_BY_DEFAULT in p for p in probed_paths)

    second = [m.id for m in client.models.list(limit=1000)]
    assert second == first
    client.models.retrieve("claude-sonnet-4-5")
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("claude-opus-4-1")
    assert len(fresh.backend_requests()) == probes, "cached verification must not probe again"


def test_custom_refusal_changes_the_list(make_stack):
    refused = frozenset({"sfdc_ai__DefaultGPT41Mini"})
    custom = make_stack(sim_config=SimulatorConfig(refused_models=refused))
    client = custom.client()
    ids = [m.id for m in client.models.list(limit=1000)]
    assert "gpt-4.1-mini" not in ids
    assert "claude-opus-4-1-20250805" in ids  # no longer refused by this org
    assert ids == [m["id"] for m in _entries(refused)]
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("gpt-4.1-mini")


# --- retrieval -------------------------------------------------------------------------------------


def test_retrieve_by_alias_returns_canonical_id(client):
    model = client.models.retrieve("claude-sonnet-4-5")
    assert model.id == "claude-sonnet-4-5-20250929"
    assert model.display_name == "Claude Sonnet 4.5"
    assert model.type == "model"


def test_retrieve_by_dated_id(client):
    model = client.models.retrieve("claude-haiku-4-5-20251001")
    assert model.id == "claude-haiku-4-5-20251001"
    assert model.display_name == "Claude Haiku 4.5"


def test_retrieve_future_pattern_id(client):
    model = client.models.retrieve("claude-opus-5-5")
    assert model.id == "claude-opus-5-5"
    opus = client.models.retrieve("claude-opus-4-8")  # the newest Opus in the catalog serves it
    assert model.display_name == opus.display_name
    assert model.created_at == opus.created_at


@pytest.mark.parametrize("model_id", ["gpt-9-imaginary", "not-a-model", "gemini-0"])
def test_retrieve_unknown_is_not_found(client, model_id):
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.models.retrieve(model_id)
    assert caught.value.status_code == 404
    assert caught.value.body["error"]["type"] == "not_found_error"


@pytest.mark.parametrize(
    ("model_id", "salesforce_model"),
    [
        # ids newer than the catalog: the newest model of their family
        ("claude-opus-5-5", "sfdc_ai__DefaultBedrockAnthropicClaude48Opus"),
        ("claude-sonnet-5-5", "sfdc_ai__DefaultBedrockAnthropicClaude5Sonnet"),
        ("claude-haiku-5-5", "sfdc_ai__DefaultBedrockAnthropicClaude45Haiku"),
        ("claude-mythos-5", "sfdc_ai__DefaultBedrockAnthropicClaude5Sonnet"),
        # ids the catalog serves with their own model
        ("claude-opus-4-8", "sfdc_ai__DefaultBedrockAnthropicClaude48Opus"),
        ("claude-opus-4-7", "sfdc_ai__DefaultBedrockAnthropicClaude47Opus"),
        ("claude-opus-4-6", "sfdc_ai__DefaultBedrockAnthropicClaude46Opus"),
        ("claude-sonnet-4-6", "sfdc_ai__DefaultBedrockAnthropicClaude46Sonnet"),
        ("claude-sonnet-5", "sfdc_ai__DefaultBedrockAnthropicClaude5Sonnet"),
        ("claude-sonnet-4-5-20250929", "sfdc_ai__DefaultBedrockAnthropicClaude45Sonnet"),
    ],
)
def test_pattern_routing_for_messages(stack, client, model_id, salesforce_model):
    text = f"route check <{model_id}>"
    message = client.messages.create(model=model_id, max_tokens=50, messages=_user(text))
    assert message.content[0].text == text
    assert message.model == model_id
    sent = [r for r in stack.backend_requests("/ai/gpt/v1/model/") if text in r["body"]]
    assert len(sent) == 1
    assert sent[0]["path"] == f"/ai/gpt/v1/model/{salesforce_model}/invoke"


# --- count_tokens ----------------------------------------------------------------------------------


def test_count_tokens_positive(client):
    assert _count(client, messages=_user("Hello, world")) > 0


def test_count_tokens_grows_with_text(client):
    counts = [_count(client, messages=_user("lorem ipsum dolor sit amet " * n)) for n in (1, 4, 16, 64, 256)]
    assert counts == sorted(counts)
    assert len(set(counts)) == len(counts), counts
    assert counts[-1] > 10 * counts[0]


def test_count_tokens_grows_with_more_messages(client):
    one = _count(client, messages=_user("What is the capital of France?"))
    three = _count(
        client,
        messages=[
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "Paris."},
            {"role": "user", "content": "And of Germany?"},
        ],
    )
    assert three > one


def test_count_tokens_tools_add_tokens(client):
    messages = _user("What's the weather in Paris?")
    bare = _count(client, messages=messages)
    one_tool = _count(client, messages=messages, tools=[WEATHER_TOOL])
    second = dict(WEATHER_TOOL, name="get_time", description="Get the local time in a city.")
    two_tools = _count(client, messages=messages, tools=[WEATHER_TOOL, second])
    assert bare < one_tool < two_tools


def test_count_tokens_system_adds_tokens(client):
    messages = _user("Hi there")
    bare = _count(client, messages=messages)
    short = _count(client, messages=messages, system="You are terse.")
    longer = _count(client, messages=messages, system="You are terse. " * 50)
    blocks = _count(client, messages=messages, system=[{"type": "text", "text": "You are terse."}])
    assert bare < short < longer
    assert blocks == short


def test_count_tokens_image_costs_width_times_height_over_750(client):
    png = base64.b64encode(_png(200, 200)).decode()
    text = {"type": "text", "text": "Describe this picture."}
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}}
    without = _count(client, messages=_user([text]))
    with_image = _count(client, messages=_user([text, image]))
    expected = 200 * 200 // 750  # 53
    assert abs((with_image - without) - expected) <= 5, (without, with_image)


def test_count_tokens_larger_image_costs_more(client):
    def image(size: int) -> dict:
        data = base64.b64encode(_png(size, size)).decode()
        return {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}

    small = _count(client, messages=_user([image(100)]))
    large = _count(client, messages=_user([image(400)]))
    assert large - small == pytest.approx((400 * 400 - 100 * 100) / 750, abs=5)


def test_count_tokens_unknown_model_is_not_found(client):
    with pytest.raises(anthropic.NotFoundError) as caught:
        _count(client, model="gpt-9-imaginary", messages=_user("hi"))
    assert caught.value.body["error"]["type"] == "not_found_error"


def test_count_tokens_pattern_model_is_accepted(client):
    assert _count(client, model="claude-opus-5-5", messages=_user("hi")) > 0


def test_count_tokens_missing_messages_is_bad_request(stack, client):
    with stack.http() as http:
        response = http.post("/v1/messages/count_tokens", json={"model": "claude-sonnet-4-5"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "messages" in response.json()["error"]["message"]
    with pytest.raises(anthropic.BadRequestError):
        _count(client, messages=[])


def test_count_tokens_missing_model_is_bad_request(stack):
    with stack.http() as http:
        response = http.post("/v1/messages/count_tokens", json={"messages": _user("hi")})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_count_tokens_beta_query_accepted(stack, client):
    messages = _user("Count me through the beta endpoint")
    plain = _count(client, messages=messages)
    beta = client.beta.messages.count_tokens(
        model="claude-sonnet-4-5", messages=messages, betas=["token-efficient-tools-2025-02-19"]
    )
    assert beta.input_tokens == plain
    with stack.http() as http:
        response = http.post(
            "/v1/messages/count_tokens?beta=true", json={"model": "claude-sonnet-4-5", "messages": messages}
        )
    assert response.status_code == 200
    assert response.json() == {"input_tokens": plain}


def test_count_tokens_ignores_sampling_fields(client):
    messages = _user("Same count whatever the sampling settings")
    plain = _count(client, messages=messages)
    extra = _count(
        client,
        messages=messages,
        extra_body={"max_tokens": 1024, "temperature": 0.3, "top_p": 0.9, "stop_sequences": ["x"], "stream": True},
    )
    assert extra == plain


def test_count_tokens_does_not_call_salesforce(make_stack):
    fresh = make_stack()
    _count(fresh.client(), messages=_user("no backend needed"))
    assert fresh.backend_requests() == []
    assert fresh.simulator.mint.minted == 0


def test_a_slow_model_does_not_hold_up_the_listing_and_appears_once_verified(make_stack):
    """Claude Code gives model discovery 3 s. A model whose probe takes 3 s is left out of the listing
    that would have waited for it; its probe goes on, and the next listing has it."""
    slow = make_stack(sim_config=SimulatorConfig(slow_models={"sfdc_ai__DefaultGPT5": 3.0}))
    client = slow.client()
    started = time.monotonic()
    first = [m.id for m in client.models.list(limit=1000)]
    waited = time.monotonic() - started
    assert waited < 2.8, f"the listing waited {waited:.2f} s for a slow probe"
    assert "gpt-5" not in first and "claude-sonnet-4-5-20250929" in first
    deadline = time.monotonic() + 10
    while "gpt-5" not in (ids := [m.id for m in client.models.list(limit=1000)]):
        assert time.monotonic() < deadline, "the slow model never appeared"
        time.sleep(0.2)
    assert set(ids) == set(first) | {"gpt-5"}
    probes = [r for r in slow.backend_requests() if '"sfdc_ai__DefaultGPT5"' in r["body"]]
    assert len(probes) == 1, "one probe, however many listings"
