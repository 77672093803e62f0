"""The worker: consume inbound webhooks, correlate, store state, publish downstream events."""
