"""baton: hand a trained model over from research to production, and keep it healthy there."""

__version__ = "0.1.0"
