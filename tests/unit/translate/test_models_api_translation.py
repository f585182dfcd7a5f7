"""Models API answers: text and token counts read from every shape seen."""

from __future__ import annotations

import pytest

from gateway.translate import models_api

MODELS_API_ANSWERS = {
    "chat-generations with OpenAI-style usage": (
        {
            "generationDetails": {
                "generations": [{"role": "assistant", "content": "Hello"}],
                "parameters": {"usage": {"prompt_tokens": 7, "completion_tokens": 2}},
            }
        },
        ("Hello", 7, 2),
    ),
    "chat-generations with Salesforce's token-count names": (
        {
            "generationDetails": {
                "generations": [{"content": "Hi"}],
                "parameters": {"usage": {"inputTokenCount": 5, "outputTokenCount": 1}},
            }
        },
        ("Hi", 5, 1),
    ),
    "the /generations shape (generation.generatedText)": (
        {"id": "x", "generation": {"id": "g", "generatedText": "From generations"}},
        ("From generations", None, None),
    ),
    "counts that are not integers are unknown, not trusted": (
        {"generationDetails": {"generations": [{"content": "x"}], "parameters": {"usage": {"prompt_tokens": "7"}}}},
        ("x", None, None),
    ),
}


@pytest.mark.parametrize("shape", MODELS_API_ANSWERS)
def test_models_api_answer_shapes(shape):
    body, expected = MODELS_API_ANSWERS[shape]
    assert models_api.parse_response(body) == expected
