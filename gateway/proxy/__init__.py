"""The public API: routing table, streaming proxy, merged OpenAPI."""
