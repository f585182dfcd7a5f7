"""Where configuration and caches live: one interface, a local store and an AWS store."""
