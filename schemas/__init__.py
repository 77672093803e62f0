"""The contracts: webhook payloads, queue messages and API bodies. Pure pydantic, no I/O."""
