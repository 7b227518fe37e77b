"""Pure text and offset logic: sentences, windows, decoding, output formats, ``Entity``.

No onnxruntime, no asyncio, no I/O: everything here is a function of its arguments.
"""
