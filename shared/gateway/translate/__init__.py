"""Pure Anthropic <-> Salesforce shape conversion. Nothing in here does I/O."""
