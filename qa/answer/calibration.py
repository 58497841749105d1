"""Refusal thresholds per embedding model, set by `qa eval --calibrate` and kept in calibration.json beside
this module."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

CALIBRATION_FILE = Path(__file__).resolve().with_name("calibration.json")
# A model never calibrated refuses only what names nothing in the documents: better an answer to check
# than a silent refusal of every question.
UNCALIBRATED = 0.0

_lock = threading.Lock()
_override: list[float] = []


def thresholds() -> dict[str, float]:
    try:
        data = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {model: float(value) for model, value in data.items() if isinstance(value, (int, float))}


def threshold(model: str) -> float:
    """The least answer confidence at which the model's index answers instead of refusing."""
    with _lock:
        if _override:
            return _override[-1]
    return thresholds().get(model, UNCALIBRATED)


def save(model: str, value: float) -> None:
    with _lock:
        data = thresholds()
        data[model] = value
        CALIBRATION_FILE.write_text(json.dumps(dict(sorted(data.items())), indent=2) + "\n", encoding="utf-8")


@contextlib.contextmanager
def overridden(value: float) -> Iterator[None]:
    """Every answerer uses this threshold meanwhile: calibration measures confidences without refusing."""
    with _lock:
        _override.append(value)
    try:
        yield
    finally:
        with _lock:
            _override.pop()
