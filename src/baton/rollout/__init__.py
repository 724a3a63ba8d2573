"""Safe rollout: the weighted router in front of a model's versions (``baton router``), the canary controller and its judge's inputs."""
