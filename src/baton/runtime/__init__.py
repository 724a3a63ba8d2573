"""Loading, inspecting and running models (ONNX Runtime; PyTorch export optional)."""
