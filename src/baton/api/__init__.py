"""The control-plane HTTP API (FastAPI): registry, promotion, approvals, owners, requests."""
