"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Annotated, Self

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


def _require_unicode(value: str) -> str:
    """JSON may carry lone surrogates (\\ud800); they are not text and cannot be tokenised."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"text has an unpaired surrogate at position {exc.start}") from exc
    return value


class TagRequest(BaseModel):
    """Either ``documents`` or a single bare ``text``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "documents": [
                        {"id": "pmid-1", "text": "BRCA1 mutations cause hereditary breast cancer."}
                    ],
                    "models": ["disease"],
                }
            ]
        },
    )

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


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code.")
    message: str
    details: list[dict[str, object]] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
