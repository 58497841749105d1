"""Adding and removing documents in the data folder, then re-indexing: shared by the HTTP API and the page."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

from .config import Settings
from .corpus import SUPPORTED_SUFFIXES, FileTooLarge, UnreadableFile, read_document
from .store import BuildReport, Progress

log = logging.getLogger(__name__)

# File systems cap a name at 255 bytes; a CJK character is 3 bytes in UTF-8.
MAX_NAME_BYTES = 240
# How long an upload waits for another build of the index (the page's re-index, the CLI) before giving up.
BUILD_WAIT_SECONDS = 30.0
# Uploads and deletions in one process change the data folder and the index one at a time, so a build never
# sees a half-finished batch and a rollback never removes another request's file.
_writing = threading.Lock()


class UploadError(ValueError):
    """A file that cannot be added or removed; `status` is the HTTP status that fits the cause."""

    def __init__(self, message: str, status: int = 422, name: str = ""):
        super().__init__(message)
        self.status = status
        self.name = name
        self.problems: list[UploadError] = []  # one per file when several were bad


@dataclass
class ChangeReport:
    """What an upload or deletion did: the files written or removed, and the index update."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    build: BuildReport | None = None


def safe_name(name: str) -> str:
    """The file name to store an upload under, or UploadError: directories stripped, nothing that could
    leave the data folder, hide a file from the index or confuse a terminal."""
    if not isinstance(name, str) or not name.strip():
        raise UploadError("the file has no name", name=str(name or ""))
    shown = name[:200]
    if any(unicodedata.category(character) in ("Cc", "Cf", "Zl", "Zp") for character in name):
        raise UploadError(f"the file name {shown!r} holds control characters", name=shown)
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive or PureWindowsPath(name).is_absolute():
        raise UploadError(f"the file name {shown!r} is an absolute path; send the file name alone", name=shown)
    parts = PureWindowsPath(name).parts  # splits on both / and \
    if any(part.strip() == ".." for part in parts):
        raise UploadError(f"the file name {shown!r} climbs out of its folder (..)", name=shown)
    base = unicodedata.normalize("NFC", PurePosixPath(parts[-1]).name.strip())
    if not base or base in (".", ".."):
        raise UploadError(f"the file name {shown!r} names no file", name=shown)
    if base.startswith("."):
        raise UploadError(f"the file name {base!r} is hidden (starts with a dot); hidden files are not indexed",
                          name=shown)
    if len(base.encode("utf-8")) > MAX_NAME_BYTES:
        raise UploadError(f"the file name is longer than {MAX_NAME_BYTES} bytes", name=shown)
    suffix = Path(base).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise UploadError(
            f"{base}: unsupported file type {suffix or '(none)'}; supported: {' '.join(SUPPORTED_SUFFIXES)}",
            status=415, name=shown,
        )
    return base


def _inside(folder: Path, relative: str) -> Path:
    """folder/relative, refused unless it stays inside folder once every link is resolved."""
    root = folder.resolve()
    target = (root / relative).resolve()
    if target == root or root not in target.parents:
        raise UploadError(f"{relative!r} is not inside the data folder", name=relative)
    return target


def check_upload(settings: Settings, name: str, data: bytes) -> str:
    """The stored name for a valid upload; UploadError (nothing written) for a bad name, size or content."""
    base = safe_name(name)
    if len(data) > settings.max_upload_bytes:
        raise UploadError(
            f"{base} is {len(data):,} bytes; the limit is {settings.max_upload_bytes:,} (QA_MAX_UPLOAD_BYTES)",
            status=413, name=base,
        )
    if not data:
        raise UploadError(f"{base} is empty", name=base)
    return base


def _readable(settings: Settings, path: Path, source: str) -> None:
    """UploadError unless the indexer can read the file and finds at least one paragraph in it."""
    try:
        document, _ = read_document(path, source, settings.max_paragraph_chars,
                                    max_expanded_bytes=settings.max_expanded_bytes,
                                    max_paragraphs=settings.max_paragraphs_per_file)
    except FileTooLarge as error:
        raise UploadError(f"{source} is refused: {error}", status=413, name=source) from None
    except (UnreadableFile, OSError) as error:
        raise UploadError(f"{source} cannot be read: {error}", name=source) from None
    except Exception as error:  # a malformed file a parser library chokes on, as the indexer would skip it
        raise UploadError(f"{source} could not be parsed ({type(error).__name__})", name=source) from None
    if not document.paragraphs:
        raise UploadError(f"{source} holds no text to index", name=source)
    if any("\x00" in paragraph.text for paragraph in document.paragraphs):  # valid UTF-8, but not text
        raise UploadError(f"{source} cannot be read: binary data, not text", name=source)


def save_upload(settings: Settings, name: str, data: bytes, replace: bool = False) -> Path:
    """Write one upload into the data folder atomically (a hidden temporary file, checked, then renamed);
    UploadError, and nothing written, for a bad name, size, type or content, or an existing file without
    replace=True."""
    base = check_upload(settings, name, data)
    data_dir = Path(settings.data_dir)
    if not data_dir.is_dir():
        raise UploadError("the data folder does not exist", status=503, name=base)
    target = _inside(data_dir, base)
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise UploadError(f"{base} exists in the data folder and is not a plain file", status=409, name=base)
    if target.exists() and not replace:
        raise UploadError(f"{base} already exists; send replace=true to overwrite it", status=409, name=base)
    temporary = target.with_name(f".upload-{uuid.uuid4().hex}{target.suffix}")  # hidden: never indexed
    try:
        with open(temporary, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _readable(settings, temporary, base)
        if replace:
            os.replace(temporary, target)
        else:
            os.link(temporary, target)  # fails if the name was taken meanwhile: never overwrites
    except FileExistsError:
        raise UploadError(f"{base} already exists; send replace=true to overwrite it", status=409,
                          name=base) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return target


def _set_aside(path: Path) -> Path:
    """Move a file to a hidden name beside it (so the index no longer sees it) and return that name."""
    aside = path.with_name(f".aside-{uuid.uuid4().hex}-{path.name}")
    os.replace(path, aside)
    return aside


def add_documents(engine, files: list[tuple[str, bytes]], replace: bool = False,
                  progress: Progress | None = None) -> ChangeReport:
    """Save uploads and update the index; all or nothing. Every file is checked before any is written; if
    the build fails or leaves a file out, the files are removed (replaced ones restored) and the index is
    left as it was. UploadError lists every bad file."""
    settings: Settings = engine.settings
    if not files:
        raise UploadError("no files were sent")
    if len(files) > settings.max_upload_files:
        raise UploadError(f"{len(files)} files were sent; the limit is {settings.max_upload_files} a request "
                          f"(QA_MAX_UPLOAD_FILES)", status=413)
    problems: list[UploadError] = []
    names: list[str] = []
    for name, data in files:
        try:
            base = check_upload(settings, name, data)
        except UploadError as error:
            problems.append(error)
            continue
        if base in names:
            problems.append(UploadError(f"{base} was sent twice", name=base))
        names.append(base)
    _raise_all(problems)

    with _writing:
        report = ChangeReport()
        written: list[Path] = []
        set_aside: dict[Path, Path] = {}  # replaced file → its hidden copy, restored if anything fails
        try:
            for (name, data), base in zip(files, names, strict=True):
                target = _inside(Path(settings.data_dir), base)
                replacing = replace and target.is_file() and not target.is_symlink()
                if replacing:
                    set_aside[target] = _set_aside(target)
                try:
                    save_upload(settings, name, data, replace=False)
                except UploadError as error:
                    problems.append(error)
                    continue
                (report.replaced if replacing else report.added).append(base)
                written.append(target)
            _raise_all(problems)
            report.build = engine.build_index(progress=progress, show_bar=False, wait=BUILD_WAIT_SECONDS)
            indexed = (engine.store.read_manifest() or {}).get("files", {})
            left_out = [path.name for path in written if path.name not in indexed]
            if left_out:
                warnings = "; ".join(w for w in report.build.warnings if any(n in w for n in left_out))
                raise UploadError(f"not indexed: {', '.join(left_out)}" + (f" ({warnings})" if warnings else ""))
        except BaseException:
            for path in written:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            for target, aside in set_aside.items():
                os.replace(aside, target)
            if report.build is not None:  # the build took the new files in: take them out again
                _rebuild_quietly(engine)
            raise
        for aside in set_aside.values():
            with contextlib.suppress(FileNotFoundError):
                aside.unlink()
    log.info("added %s, replaced %s: %s", report.added, report.replaced, report.build.summary())
    return report


def delete_document(engine, source: str, progress: Progress | None = None) -> ChangeReport:
    """Remove one file of the data folder (its path as /api/documents lists it) and update the index; the
    file comes back if the update fails. The last document cannot be removed: an index needs one."""
    settings: Settings = engine.settings
    if not isinstance(source, str) or not source.strip():
        raise UploadError("no document named")
    if any(unicodedata.category(character) in ("Cc", "Cf") for character in source):
        raise UploadError("the document name holds control characters", name=source[:200])
    relative = PurePosixPath(source.replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts or any(p.startswith(".") for p in relative.parts):
        raise UploadError(f"{source[:200]!r} is not a document of the data folder", status=404, name=source[:200])
    data_dir = Path(settings.data_dir)
    target = data_dir / relative
    if target.is_symlink() or not target.is_file():
        raise UploadError(f"no document {source!r} in the data folder", status=404, name=source)
    _inside(data_dir, relative.as_posix())
    with _writing:
        indexed = (engine.store.read_manifest() or {}).get("files", {})
        if set(indexed) <= {relative.as_posix()}:
            raise UploadError(f"{source} is the only indexed document; add another before removing it",
                              status=409, name=source)
        aside = _set_aside(target)
        try:
            build = engine.build_index(progress=progress, show_bar=False, wait=BUILD_WAIT_SECONDS)
        except BaseException:
            os.replace(aside, target)
            raise
        aside.unlink()
    log.info("removed %s: %s", source, build.summary())
    return ChangeReport(removed=[relative.as_posix()], build=build)


def _raise_all(problems: list[UploadError]) -> None:
    if not problems:
        return
    if len(problems) == 1:
        raise problems[0]
    statuses = {problem.status for problem in problems}
    error = UploadError("; ".join(str(problem) for problem in problems),
                        status=statuses.pop() if len(statuses) == 1 else 422)
    error.problems = problems
    raise error


def _rebuild_quietly(engine) -> None:
    """After a rollback: bring the index back to the data folder as it is now; a failure here is logged,
    since the original error is the one the caller must see."""
    try:
        engine.build_index(show_bar=False, wait=BUILD_WAIT_SECONDS)
    except Exception as error:
        log.error("re-indexing after a failed upload failed too: %s", error)
