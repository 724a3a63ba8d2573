"""Safe rollout: the weighted router in front of a model's versions (``baton router``)."""
