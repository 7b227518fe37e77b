"""Annotated corpora -> documents with gold character spans. Pure functions except `load_dataset`.

IOB (`*.tsv`): a sentence's tokens are joined with single spaces into a pseudo-document, since
the corpus's original spacing is lost; gold spans are the B/I runs, chunked as seqeval does by
default (IOB2, lenient: an I after O or after another type starts an entity). PubTator
(`*.pubtator`): real abstracts, `title + " " + abstract`, with the corpus's character offsets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from biotag.evaluation.scoring import Span

Format = Literal["iob", "pubtator"]
FORMATS: dict[str, Format] = {"iob": "iob", "pubtator": "pubtator"}
SUFFIXES: dict[str, Format] = {".tsv": "iob", ".iob": "iob", ".pubtator": "pubtator"}

# Corpus type names -> model type names. The NCBI disease corpus annotates disease subtypes,
# all of which a disease model is expected to find; BC2GM spells its one type in capitals.
DEFAULT_TYPE_MAP: dict[str, str] = {
    "SpecificDisease": "Disease",
    "DiseaseClass": "Disease",
    "Modifier": "Disease",
    "CompositeMention": "Disease",
    "GENE": "Gene",
}


class DatasetError(ValueError):
    """The dataset (or how to read it) is not usable; the message says where."""


@dataclass(frozen=True)
class GoldDocument:
    id: str
    text: str
    spans: tuple[Span, ...]


def detect_format(path: Path, requested: str | None = None) -> Format:
    if requested is not None:
        if requested not in FORMATS:
            raise DatasetError(f"unknown format {requested!r}; choose from {sorted(FORMATS)}")
        return FORMATS[requested]
    try:
        return SUFFIXES[path.suffix.lower()]
    except KeyError:
        raise DatasetError(
            f"cannot tell the format of {path.name} from its suffix "
            f"({', '.join(sorted(SUFFIXES))}); pass --format iob|pubtator"
        ) from None


def parse_tag(tag: str) -> tuple[str, str]:
    """`O` -> ("O", ""); `B-Disease` -> ("B", "Disease"). Types may contain hyphens."""
    if tag == "O":
        return "O", ""
    prefix, _, entity_type = tag.partition("-")
    if prefix not in ("B", "I") or not entity_type:
        raise DatasetError(f"tag {tag!r} is not O, B-TYPE or I-TYPE")
    return prefix, entity_type


def iob_chunks(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, first token, last token + 1) of each entity, as seqeval's default `get_entities`.

    A chunk starts at a B, or at an I whose type differs from the previous tag's (I after O
    included); it ends before the next B, O, or change of type.
    """
    chunks: list[tuple[str, int, int]] = []
    current: tuple[str, int] | None = None  # type and first token of the open chunk
    for index, tag in enumerate(tags):
        prefix, entity_type = parse_tag(tag)
        continues = prefix == "I" and current is not None and current[0] == entity_type
        if current is not None and not continues:
            chunks.append((current[0], current[1], index))
            current = None
        if prefix in ("B", "I") and not continues:
            current = (entity_type, index)
    if current is not None:
        chunks.append((current[0], current[1], len(tags)))
    return chunks


def iob_document(doc_id: str, tokens: list[str], tags: list[str]) -> GoldDocument:
    """One sentence as a pseudo-document: tokens joined with single spaces."""
    starts = []
    position = 0
    for token in tokens:
        starts.append(position)
        position += len(token) + 1
    spans = tuple(
        Span(starts[first], starts[last - 1] + len(tokens[last - 1]), entity_type)
        for entity_type, first, last in iob_chunks(tags)
    )
    return GoldDocument(doc_id, " ".join(tokens), spans)


def read_iob(lines: Iterable[str], name: str = "<iob>") -> list[GoldDocument]:
    """`token<TAB>tag` lines, a blank line after each sentence; one document per sentence."""
    documents: list[GoldDocument] = []
    tokens: list[str] = []
    tags: list[str] = []

    def flush() -> None:
        if tokens:
            documents.append(iob_document(str(len(documents)), tokens[:], tags[:]))
            tokens.clear()
            tags.clear()

    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            flush()
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0]:
            raise DatasetError(f"{name}:{number}: expected 'token<TAB>tag', got {line!r}")
        try:
            parse_tag(fields[1].strip())
        except DatasetError as exc:
            raise DatasetError(f"{name}:{number}: {exc}") from None
        tokens.append(fields[0])
        tags.append(fields[1].strip())
    flush()
    return documents


def read_pubtator(lines: Iterable[str], name: str = "<pubtator>") -> list[GoldDocument]:
    """Title, abstract and mention lines per abstract; offsets index `title + " " + abstract`."""
    documents: list[GoldDocument] = []
    doc_id: str | None = None
    title = abstract = ""
    mentions: list[tuple[int, str, int, int, str]] = []  # line, mention, start, end, type

    def flush() -> None:
        if doc_id is None:
            return
        text = f"{title} {abstract}"
        spans = []
        for number, mention, start, end, entity_type in mentions:
            # the offsets are authoritative: one NCBI train mention carries stray trailing spaces
            if not 0 <= start < end <= len(text) or text[start:end].strip() != mention.strip():
                raise DatasetError(
                    f"{name}:{number}: mention {mention!r} is not at {start}-{end} of its text"
                )
            spans.append(Span(start, end, entity_type))
        documents.append(GoldDocument(doc_id, text, tuple(spans)))

    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        head, bar, rest = line.partition("|")
        if bar and "\t" not in head and rest[:2] in ("t|", "a|"):
            if rest[0] == "t" or head != doc_id:
                flush()
                doc_id, title, abstract, mentions = head, "", "", []
            if rest[0] == "t":
                title = rest[2:]
            else:
                abstract = rest[2:]
            continue
        fields = line.split("\t")
        if len(fields) < 5 or fields[0] != doc_id:
            raise DatasetError(f"{name}:{number}: expected a mention line of {doc_id}: {line!r}")
        try:
            start, end = int(fields[1]), int(fields[2])
        except ValueError:
            raise DatasetError(f"{name}:{number}: offsets are not integers: {line!r}") from None
        mentions.append((number, fields[3], start, end, fields[4]))
    flush()
    return documents


def load_dataset(path: Path, format_name: str | None = None) -> list[GoldDocument]:
    form = detect_format(path, format_name)
    if not path.is_file():
        raise DatasetError(f"no such file: {path}")
    with path.open(encoding="utf-8") as handle:
        return read_iob(handle, path.name) if form == "iob" else read_pubtator(handle, path.name)


def grouped(documents: list[GoldDocument], size: int) -> list[GoldDocument]:
    """Every ``size`` consecutive documents as one, joined by a space, gold spans shifted.

    An IOB file holds one sentence per document, so each reaches the service alone; grouped,
    they reach it as an abstract does, cut into windows of several sentences.
    """
    joined: list[GoldDocument] = []
    for begin in range(0, len(documents), size):
        text, spans = "", []
        for document in documents[begin : begin + size]:
            shift = len(text) + 1 if text else 0
            spans += [Span(s.start + shift, s.end + shift, s.type) for s in document.spans]
            text = f"{text} {document.text}" if text else document.text
        joined.append(GoldDocument(documents[begin].id, text, tuple(spans)))
    return joined


def parse_type_map(items: Iterable[str]) -> dict[str, str]:
    """`CORPUS=MODEL` items on top of the default mapping (an item overrides a default)."""
    mapping = dict(DEFAULT_TYPE_MAP)
    for item in items:
        source, equals, target = item.partition("=")
        if not equals or not source.strip() or not target.strip():
            raise DatasetError(f"--type-map {item!r} is not CORPUS_TYPE=MODEL_TYPE")
        mapping[source.strip()] = target.strip()
    return mapping


def align_types(
    documents: list[GoldDocument], type_map: Mapping[str, str], model_types: Collection[str]
) -> tuple[list[GoldDocument], Counter[str]]:
    """Gold spans renamed to the models' types; spans of types no model tags are dropped.

    After the mapping, types match case-insensitively, spelled as the model spells them.
    Returns the kept documents and how many spans of each (corpus) type were dropped.
    """
    by_lower = {entity_type.lower(): entity_type for entity_type in model_types}
    ignored: Counter[str] = Counter()
    aligned = []
    for document in documents:
        kept = []
        for span in document.spans:
            model_type = by_lower.get(type_map.get(span.type, span.type).lower())
            if model_type is None:
                ignored[span.type] += 1
            else:
                kept.append(Span(span.start, span.end, model_type))
        aligned.append(GoldDocument(document.id, document.text, tuple(kept)))
    return aligned, ignored
