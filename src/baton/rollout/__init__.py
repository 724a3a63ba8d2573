"""Safe rollout: the weighted router, the canary controller and its judge's inputs."""
