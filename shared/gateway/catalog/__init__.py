"""Which Salesforce model serves an Anthropic model id, and whether it answers."""
