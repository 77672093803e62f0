"""Webhooks in: authenticate, validate, and queue each upstream's events with a confirm."""
