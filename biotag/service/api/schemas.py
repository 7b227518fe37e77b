"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from biotag.bundle import MODEL_NAME_PATTERN

ModelName = Annotated[str, StringConstraints(pattern=MODEL_NAME_PATTERN)]


class Document(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, StringConstraints(max_length=256)] | None = Field(
        default=None,
        description="Your identifier (a number is taken as its decimal string), echoed back; "
        "defaults to the position.",
        # what is accepted: the validator below turns an integer into its string first
        json_schema_extra={
            "anyOf": [{"type": "string", "maxLength": 256}, {"type": "integer"}, {"type": "null"}]
        },
    )
    text: str = Field(description="The text to tag; offsets refer to its code points.")

    @field_validator("text")
    @classmethod
    def _valid_unicode(cls, value: str) -> str:
        return _require_unicode(value)

    @field_validator("id", mode="before")
    @classmethod
    def _numbers_are_ids_too(cls, value: object) -> object:
        # PMIDs often arrive as JSON numbers
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("id")
    @classmethod
    def _valid_unicode_id(cls, value: str | None) -> str | None:
        return None if value is None else _require_unicode(value, "id")


def _require_unicode(value: str, what: str = "text") -> str:
    """JSON may carry lone surrogates (\\ud800); they are not text and cannot be tokenised."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} has an unpaired surrogate at position {exc.start}") from exc
    return value


def _one_of_documents_or_text(schema: dict[str, Any]) -> None:
    """The schema of what is accepted: exactly one of ``documents`` and ``text``, never null
    (None is only how the model says "not given")."""
    for name in ("documents", "text"):
        prop = schema["properties"][name]
        given = next(branch for branch in prop.pop("anyOf") if branch.get("type") != "null")
        prop.update(given)
        prop.pop("default", None)
    schema["oneOf"] = [{"required": ["documents"]}, {"required": ["text"]}]
    schema["examples"] = [
        {
            "documents": [
                {"id": "pmid-1", "text": "BRCA1 mutations cause hereditary breast cancer."}
            ],
            "models": ["disease"],
        }
    ]


class TagRequest(BaseModel):
    """Either ``documents`` or a single bare ``text``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_one_of_documents_or_text)

    documents: list[Document] | None = Field(default=None, min_length=1)
    text: str | None = None
    models: list[ModelName] | None = Field(
        default=None, min_length=1, description="Model names to run (GET /models); default: all."
    )

    @field_validator("text")
    @classmethod
    def _valid_unicode(cls, value: str | None) -> str | None:
        return None if value is None else _require_unicode(value)

    @model_validator(mode="after")
    def _one_input(self) -> Self:
        if (self.documents is None) == (self.text is None):
            raise ValueError("give either 'documents' or 'text'")
        return self

    def resolved_documents(self) -> list[Document]:
        if self.documents is not None:
            return self.documents
        return [Document(id="0", text=self.text or "")]


class EntityOut(BaseModel):
    start: int = Field(description="First code point, inclusive.")
    end: int = Field(description="Last code point, exclusive.")
    text: str = Field(description="Always equal to text[start:end].")
    type: str = Field(description="Entity type, e.g. Disease.")
    score: float = Field(ge=0.0, le=1.0)
    model: str


class DocumentOut(BaseModel):
    id: str
    entities: list[EntityOut]


class TagResponse(BaseModel):
    documents: list[DocumentOut]
    models: list[str]


class BioCLocation(BaseModel):
    offset: int = Field(description="First code point of the entity in the document's text.")
    length: int = Field(description="Code points.")


class BioCAnnotation(BaseModel):
    id: str
    infons: dict[str, str] = Field(description="type, score (4 decimals), model")
    text: str
    locations: list[BioCLocation]


class BioCPassage(BaseModel):
    offset: int
    infons: dict[str, str]
    text: str
    sentences: list[dict[str, object]]
    annotations: list[BioCAnnotation]
    relations: list[dict[str, object]]


class BioCDocument(BaseModel):
    id: str
    infons: dict[str, str]
    passages: list[BioCPassage]
    annotations: list[BioCAnnotation]
    relations: list[dict[str, object]]


class BioCCollection(BaseModel):
    """``?format=biocjson``: the JSON layout of the `bioc` library and PubTator3."""

    source: str
    date: str = Field(description="YYYYMMDD")
    key: str
    infons: dict[str, str]
    documents: list[BioCDocument]


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code.")
    message: str
    details: list[dict[str, object]] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
