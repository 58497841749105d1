"""One Settings object, read from QA_* environment variables and overridden by command-line options."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# A question longer than this is cut (with a notice): longer text is never a question, and it would
# slow retrieval and the answerer for nothing.
MAX_QUESTION_CHARS = 2000
# A shorter key is guessed: even slowed down to one wrong key per few seconds, a short key falls in days.
MIN_API_KEY_CHARS = 16


class SettingsError(ValueError):
    """A QA_* variable or option holds a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path = PROJECT_ROOT / "data"
    index_dir: Path = PROJECT_ROOT / "index"
    embed_model: str = "multilingual-e5-small"
    # An OpenAI-compatible /v1/embeddings server computes the vectors instead of the local model.
    embed_base_url: str = ""
    embed_api_key: str = ""
    embed_timeout: float = 60.0
    chroma_host: str = ""
    chroma_port: int = 0
    chroma_timeout: float = 10.0
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout: float = 60.0  # a deadline for the whole reply, not per read
    llm_max_reply_chars: int = 20_000
    # Serving: binding anything but loopback requires api_key (the page asks for it, the API checks it).
    host: str = "127.0.0.1"
    port: int = 7860
    api_key: str = ""
    # Browser front-ends on other origins allowed to call /api and /v1 ("http://127.0.0.1:3000,https://x.example").
    cors_origins: str = ""
    # Bounds on what a caller controls; each has a message when it bites.
    max_question_chars: int = MAX_QUESTION_CHARS
    max_history_turns: int = 20
    max_history_chars: int = 8_000
    max_k: int = 50
    max_filter_values: int = 200
    max_upload_bytes: int = 20 * 1024 * 1024
    max_upload_files: int = 20
    # What one file may cost to read: a zip-based file's (.docx) unpacked size, and its paragraphs.
    max_expanded_bytes: int = 50 * 1024 * 1024
    max_paragraphs_per_file: int = 20_000
    # The citable unit: a longer paragraph is split at sentence boundaries, then at this hard cap.
    max_paragraph_chars: int = 1_500
    follow_symlinks: bool = False  # a link that leaves the data folder is skipped unless this is set
    # The page: title, one line of description and example questions (a file, one question a line).
    page_title: str = ""
    page_description: str = ""
    examples_file: Path | None = None
    feedback_file: Path = PROJECT_ROOT / "feedback.jsonl"

    def __post_init__(self) -> None:
        if self.api_key and len(self.api_key.strip()) < MIN_API_KEY_CHARS:
            raise SettingsError(
                f"the API key (QA_API_KEY or --api-key) is {len(self.api_key.strip())} characters long; it needs "
                f"at least {MIN_API_KEY_CHARS}. Make one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(24))'")
        for origin in self.allowed_origins:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query:
                raise SettingsError(
                    f"QA_CORS_ORIGINS holds {origin!r}; each entry is an origin such as http://127.0.0.1:3000 "
                    "(scheme, host and port; no path, no *)")

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        return tuple(origin.strip().rstrip("/") for origin in self.cors_origins.split(",") if origin.strip())

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        env = os.environ
        values: dict = {}
        for field in fields(cls):
            raw = env.get(f"QA_{field.name.upper()}")
            if raw is None or raw == "":
                continue
            values[field.name] = _parse(field.name, raw, cls.__dataclass_fields__[field.name].default)
        settings = cls(**values)
        known = {f.name for f in fields(cls)}
        return replace(settings, **{k: v for k, v in overrides.items() if k in known and v not in (None, "")})

    @property
    def uses_chroma_server(self) -> bool:
        return bool(self.chroma_host or self.chroma_port)

    @property
    def uses_llm(self) -> bool:
        return bool(self.llm_base_url)

    @property
    def uses_embedding_server(self) -> bool:
        return bool(self.embed_base_url)


def _parse(name: str, raw: str, default):
    """The variable QA_<NAME> read as the type of its default."""
    variable = f"QA_{name.upper()}"
    try:
        if isinstance(default, bool):
            lowered = raw.strip().lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(raw)
            return lowered in ("1", "true", "yes", "on")
        if isinstance(default, int):
            value = int(raw)
            if value < 0:
                raise ValueError(raw)
            return value
        if isinstance(default, float):
            value = float(raw)
            if not value > 0:
                raise ValueError(raw)
            return value
        if isinstance(default, Path) or name.endswith(("_dir", "_file")):
            return Path(raw)
        return raw
    except ValueError:
        kind = "true or false" if isinstance(default, bool) else "a positive number"
        raise SettingsError(f"{variable}={raw!r} is not {kind}") from None
