"""The inference server: Open Inference Protocol over HTTP, dynamic batching, hot swap."""
