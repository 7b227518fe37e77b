"""Several server processes on one port: the worker supervisor, and the shared engine process
(one owner of the ONNX Runtime sessions) with its client and wire protocol."""
