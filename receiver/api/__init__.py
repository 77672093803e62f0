"""The HTTP API: password calls, method confirmations, portals, providers and templates."""
