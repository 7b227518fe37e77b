"""All service settings, in one class; every field can be set from the environment (BIOTAG_*)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPO_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


class Settings(BaseSettings):
    """Service configuration. Environment variable = ``BIOTAG_`` + the field name in capitals."""

    model_config = SettingsConfigDict(env_prefix="BIOTAG_", frozen=True, extra="ignore")

    models_dir: Path = Field(
        default=REPO_MODELS_DIR,
        description="Folder whose sub-folders holding a bundle.json are served, one bundle each.",
    )
    host: str = Field(default="127.0.0.1", description="Address `biotag serve` listens on.")
    port: int = Field(
        default=8000, ge=1, le=65535, description="TCP port `biotag serve` listens on."
    )
    workers: int = Field(
        default=1,
        ge=1,
        description="Server processes sharing the port, each on its own SO_REUSEPORT socket (the "
        "kernel spreads connections over them). Tokenising, decoding and JSON run in Python, so "
        "on a GPU host one process cannot keep the GPU busy; several can. Metrics are then "
        "summed over the processes (Prometheus multiprocess mode, PROMETHEUS_MULTIPROC_DIR).",
    )
    shared_engine: bool = Field(
        default=True,
        description="With more than one worker: one extra process owns the ONNX Runtime "
        "sessions and batches the windows of all workers (one CUDA context, fuller batches, "
        "no CPU threads oversubscribed). false: each worker opens its own sessions.",
    )
    execution_provider: Literal["auto", "cuda", "cpu"] = Field(
        default="auto",
        description="ONNX Runtime provider: `cuda` requires CUDAExecutionProvider, `auto` uses it "
        "when available and falls back to the CPU.",
    )
    cpu_precision: Literal["fp32", "int8"] = Field(
        default="int8",
        description="Graph variant run on the CPU (falls back to the other if absent). The CPU "
        "runs sequences one at a time, unpadded, so results never depend on batch company; "
        "int8 (dynamic quantization) is 2.3-3.3x faster than fp32 for ALBERT-base here.",
    )
    cuda_precision: Literal["fp16", "fp32"] = Field(
        default="fp16", description="Graph variant run on CUDA (falls back to fp32 if absent)."
    )
    cuda_device_id: int = Field(default=0, ge=0, description="CUDA device ordinal.")
    cuda_provider_options: dict[str, str] = Field(
        default_factory=dict,
        description="Extra CUDAExecutionProvider options as a JSON object, e.g. "
        '`{"sdpa_kernel": "2", "gpu_mem_limit": "8589934592"}`; they override biotag\'s own '
        "(device_id, arena_extend_strategy).",
    )
    cuda_width_multiple: int = Field(
        default=64,
        ge=0,
        description="On CUDA, batches are padded to a bounded set of shapes (width a multiple of "
        "this, rows 1, 2, 4, 8, 16, 24, ...) and each shape is run once at start-up: ONNX "
        "Runtime's CUDA provider pays ~46 ms and some GPU memory for every new shape otherwise. "
        "0 runs exact shapes.",
    )
    cuda_batches_in_flight: int = Field(
        default=2,
        ge=1,
        description="Batches a CUDA session runs at once: the next batch is padded, copied and "
        "launched while the previous one computes, so the GPU does not wait for the host. The "
        "CPU runs one batch at a time (its cores are busy inside each).",
    )
    max_batch_tokens: int = Field(
        default=16384,
        ge=64,
        description="Token budget of one batch, counted padded (longest sequence x sequences).",
    )
    max_batch_size: int = Field(
        default=64,
        ge=1,
        description="Most sequences in one batch; at most 4 where a session runs them one after "
        "another (the CPU), where a long batch only delays the windows of other requests.",
    )
    max_wait_ms: float = Field(
        default=2.0,
        ge=0.0,
        description="How long the batcher waits after the first queued window for more to join.",
    )
    max_queue_windows: int = Field(
        default=4096,
        ge=1,
        description="Windows waiting per bundle before requests are refused with 503.",
    )
    max_documents: int = Field(default=64, ge=1, description="Most documents in one request.")
    max_document_chars: int = Field(
        default=200_000, ge=1, description="Most characters (code points) in one document."
    )
    max_request_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Largest request body accepted, in bytes."
    )
    oversize_drain_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="A body over max_request_bytes but under this many bytes is read to its end "
        "and discarded before the 413 answer, so that clients which send the whole body before "
        "they read (Python's urllib) get the answer instead of a broken pipe. A larger one is "
        "answered at once and the connection closed.",
    )
    body_timeout_s: float = Field(
        default=30.0,
        gt=0.0,
        description="The whole request body must arrive within this many seconds of its "
        "headers; a slower one is answered 408 and its connection closed.",
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0.0,
        description="A request's headers must arrive within this many seconds of the "
        "connection opening (or of the previous response on a kept-alive connection); "
        "otherwise 408 and the connection closes (slowloris).",
    )
    max_concurrent_requests: int = Field(
        default=64,
        ge=1,
        description="POST /tag requests one server process holds at once; the next is refused "
        "429 with Retry-After before its body is parsed, which keeps the latency of accepted "
        "requests bounded under overload (with N workers the service holds N times this).",
    )
    window_tokens: int | None = Field(
        default=None,
        ge=8,
        description="Tokens per window including special tokens; default: the bundle's max length.",
    )
    window_target_tokens: int = Field(
        default=128,
        ge=0,
        description="Documents are cut at sentence boundaries into windows of about this many "
        "tokens (special tokens included; never more than window_tokens), whole sentences "
        "each. Attention costs grow with the square of a window: int8 ALBERT-base on 2 CPU "
        "cores tags abstracts ~5% faster in 128-token windows than whole, and no window "
        "overlaps another unless one sentence is longer than a window. 0: windows as long as "
        "window_tokens, cut only where a document is longer.",
    )
    window_stride: int = Field(
        default=64,
        ge=0,
        description="Tokens shared by consecutive windows of a sentence longer than a window "
        "(context at seams).",
    )
    intra_op_threads: int = Field(
        default=0,
        ge=0,
        description="ONNX Runtime intra-op threads per session; 0 = all cores on the CPU, one "
        "thread on CUDA (only shape arithmetic runs on the host there, and idle pool threads "
        "spin: with several workers they would compete with tokenising and decoding).",
    )
    intra_op_spinning: bool = Field(
        default=False,
        description="Let ONNX Runtime's idle intra-op threads spin while they wait for work, "
        "which saves microseconds per run on cores nobody else needs. false: they sleep and "
        "leave the cores to tokenising, decoding and HTTP (2 workers on 2 cores, a storm of "
        "4x the admitted clients: 1.6-1.8x as many requests served, refusals no slower; one "
        "worker: the same throughput on 12-15% less CPU).",
    )
    retry_after_s: int = Field(
        default=1, ge=1, description="Retry-After seconds sent with 429 and 503 answers."
    )
    shutdown_timeout_s: float = Field(
        default=30.0,
        ge=0.0,
        description="Graceful shutdown: how long in-flight requests may drain.",
    )
    web_page: bool = Field(
        default=True,
        description="Serve the web page at `/` (paste an abstract, see and download its "
        "entities; static files of the package, nothing loaded from elsewhere). false: an "
        "API-only service, where `/` answers 404.",
    )
    api_key: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="API key(s), comma-separated: when set, POST /tag, GET /models and the web "
        "page's API calls need `Authorization: Bearer <key>` (401 otherwise); several keys let "
        "one be rotated out while another is in use. Never logged or printed. Empty: no key.",
    )
    api_key_probes: bool = Field(
        default=False,
        description="With api_key set: /healthz, /readyz and /metrics need the key too. false: "
        "they stay open for liveness/readiness probes and Prometheus.",
    )
    log_documents: bool = Field(
        default=False,
        description="Debug only: with log_level debug, log the document texts of each POST /tag "
        "with its request id. Otherwise no log line ever holds a document's text.",
    )
    opentelemetry: bool = Field(
        default=False,
        description="FastAPI's own OpenTelemetry spans, metrics and logs for each request, "
        "exported wherever an OpenTelemetry SDK configured in the process sends them. false: "
        "off, and FastAPI skips asking for providers on every request (36 us each, a sixth "
        "of a 429 refusal's cost under a storm); biotag's own metrics are at /metrics.",
    )
    decoding: Literal["viterbi", "argmax"] = Field(
        default="viterbi",
        description="How word labels are chosen from a head's label probabilities: `viterbi` "
        "takes the most probable sequence of a document's words that the head's scheme allows "
        "(BIO: no I-X after O or after another type; IOBES: every entity closed), `argmax` each "
        "word's most probable label, invalid sequences repaired (an I-X then opens an entity).",
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        default="info", description="Log level of the service and uvicorn."
    )

    @field_validator("api_key", mode="before")
    @classmethod
    def _keys_from_commas(cls, value: object) -> object:
        """The environment gives one string: keys separated by commas, blanks dropped."""
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @model_validator(mode="after")
    def _stride_fits_window(self) -> Settings:
        if self.window_tokens is not None and self.window_stride >= self.window_tokens // 2:
            raise ValueError("window_stride must be below half of window_tokens")
        return self
