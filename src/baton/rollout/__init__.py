"""Safe rollout: the weighted router (``baton router``), the canary controller and its judge."""
