"""The Salesforce side: OAuth, the shared HTTP client, error mapping and the surface adapters."""
