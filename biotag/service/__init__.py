"""The HTTP service, in rooms that follow the path of a request.

- ``api/``: the FastAPI app, routes, schemas, the error table, middleware, app state, and the
  web page at ``/`` with its static files (HTTP only);
- ``text/``: sentences, windows, decoding, output formats, the ``Entity`` value type (pure
  functions over text and arrays: no onnxruntime, no asyncio, no I/O);
- ``inference/``: bundle registry, ONNX Runtime sessions, shape buckets, the batcher, the tagger
  that ties text to batches, the runtime that loads and warms up (no HTTP);
- ``multiprocess/``: the worker supervisor and the shared engine process with its client and
  wire protocol.

``config`` (settings) and ``metrics`` serve every room. Nothing here imports torch or
transformers: the service image carries onnxruntime and tokenizers only.
tests/service/test_layout.py enforces who imports whom.
"""
