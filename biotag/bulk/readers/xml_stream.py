"""The children of an XML file's root, one complete element at a time, in bounded memory."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Collection, Iterator
from typing import BinaryIO

from biotag.bulk.records import ReaderError


def root_children(stream: BinaryIO, roots: Collection[str], kind: str) -> Iterator[ET.Element]:
    """Each child of the root element once it is complete. The root is cleared after the
    caller is done with each child, so nothing of a finished record stays in memory whatever
    the file's size. ``roots``: the root tags ``kind`` (for messages) may have."""
    events = ET.iterparse(stream, events=("start", "end"))
    depth = 0
    root: ET.Element | None = None
    try:
        for event, element in events:
            if event == "start":
                depth += 1
                if root is None:
                    root = element
                    if element.tag not in roots:
                        raise ReaderError(f"not {kind}: root element <{element.tag}>")
                continue
            depth -= 1
            if depth != 1 or root is None:
                continue
            yield element
            root.clear()
    except ET.ParseError as exc:
        raise ReaderError(f"malformed XML: {exc}") from exc
