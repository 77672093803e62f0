"""The receiver: webhooks in, confirmed publishes out, and the admin API."""
