"""``make check-org``: a conformance run of the gateway's Salesforce surfaces against the user's own org.

Not part of the Lambda layer; it reuses the gateway's settings, OAuth, client and surfaces.
"""
