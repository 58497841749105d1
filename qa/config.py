"""One Settings object, read from QA_* environment variables and overridden by command-line options."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# A question longer than this is cut (with a notice): longer text is never a question, and it would
# slow retrieval and the answerer for nothing.
MAX_QUESTION_CHARS = 2000


@dataclass(frozen=True)
class Settings:
    data_dir: Path = PROJECT_ROOT / "data"
    index_dir: Path = PROJECT_ROOT / "index"
    embed_model: str = "multilingual-e5-small"
    chroma_host: str = ""
    chroma_port: int = 0
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout: float = 60.0

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        env = os.environ
        settings = cls(
            data_dir=Path(env.get("QA_DATA_DIR") or cls.data_dir),
            index_dir=Path(env.get("QA_INDEX_DIR") or cls.index_dir),
            embed_model=env.get("QA_EMBED_MODEL") or cls.embed_model,
            chroma_host=env.get("QA_CHROMA_HOST", ""),
            chroma_port=int(env.get("QA_CHROMA_PORT") or 0),
            llm_base_url=env.get("QA_LLM_BASE_URL", ""),
            llm_model=env.get("QA_LLM_MODEL", ""),
            llm_api_key=env.get("QA_LLM_API_KEY", ""),
            llm_timeout=float(env.get("QA_LLM_TIMEOUT") or cls.llm_timeout),
        )
        known = {f.name for f in fields(cls)}
        return replace(settings, **{k: v for k, v in overrides.items() if k in known and v not in (None, "")})

    @property
    def uses_chroma_server(self) -> bool:
        return bool(self.chroma_host or self.chroma_port)

    @property
    def uses_llm(self) -> bool:
        return bool(self.llm_base_url)
