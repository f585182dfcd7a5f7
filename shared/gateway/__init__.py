"""Anthropic-compatible gateway in front of the Salesforce Models API.

Sub-packages, by concept:
- ``anthropic``: the client-facing wire (validation, errors, SSE, ids, events).
- ``translate``: pure Anthropic <-> Salesforce shape conversion, no I/O.
- ``salesforce``: OAuth, the HTTP client (deadline, retries, error mapping) and one adapter per surface.
- ``catalog``: the model catalog (map, patterns, capabilities), model verification, what answers taught us.
- ``stores``: where the model map and the verification cache live (local or AWS).
- ``keys``: developer keys, token budgets, the authorizer's check and ``python -m gateway.keys``.
- ``routes``: the HTTP endpoints (``app.py`` builds the app from them, ``middleware.py`` wraps them).
- ``services.py`` holds the process-wide objects, ``settings.py`` the configuration read from the environment,
  ``local_server.py`` is ``make run``'s entry point, ``http_server.py`` the uvicorn server it and the tests use.
The Salesforce simulator (``shared/simulator``) and ``make check-org`` (``shared/orgcheck``) are not in the layer.
"""

__version__ = "0.1.0"
