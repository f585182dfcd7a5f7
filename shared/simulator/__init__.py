"""A Salesforce stand-in: OAuth and all three model surfaces, with a deterministic test model.

It speaks Salesforce's wire formats (JSON bodies, SSE, AWS event-stream, JWT access tokens,
Salesforce error bodies) so that the gateway is exercised exactly as against a real org.
"""
