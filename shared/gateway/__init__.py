"""Anthropic-compatible gateway in front of the Salesforce Models API.

Sub-packages, by concept:
- ``anthropic``: the client-facing wire (validation, errors, SSE, ids, events).
- ``translate``: pure Anthropic <-> Salesforce shape conversion, no I/O.
- ``salesforce``: OAuth, the pooled HTTP client and one adapter per Salesforce surface.
- ``routing``: the model map and model verification.
- ``stores``: where the model map and the verification cache live (local or AWS).
- ``http``: the Starlette app factory, middleware and routes.
- ``simulator``: a Salesforce stand-in used by ``make run`` and the tests.
"""

__version__ = "0.1.0"
