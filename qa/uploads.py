"""Adding and removing documents in the data folder, then re-indexing: shared by the HTTP API and the page."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

from filelock import FileLock, Timeout

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
# A change to the data folder first writes what it is about to do (which files it adds, which it sets aside
# under a hidden name); a process killed mid-change leaves the note, and the next start undoes the change, or
# finishes it when the index had already switched to it. Hidden, so never indexed.
JOURNAL_PREFIX = ".qa-change-"
ASIDE_PREFIX = ".aside-"
# Held across processes for a whole change, so that one process's start-up never undoes another's change.
CHANGES_LOCK = ".qa-changes.lock"


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


def _aside_path(path: Path) -> Path:
    """A hidden name beside a file, where it waits while a change that replaces or removes it is indexed."""
    return path.with_name(f"{ASIDE_PREFIX}{uuid.uuid4().hex}-{path.name}")


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class _Journal:
    """What one change is about to do to the data folder, on disk before it does any of it."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.path = data_dir / f"{JOURNAL_PREFIX}{uuid.uuid4().hex}.json"
        self.written: list[dict] = []  # {"name", "sha256", "aside"}: a file added, or replacing "aside"
        self.removed: list[dict] = []  # {"name", "aside"}: a file removed, waiting at "aside"

    def relative(self, path: Path) -> str:
        return (path.parent.resolve() / path.name).relative_to(self.data_dir.resolve()).as_posix()

    def save(self) -> None:
        temporary = self.path.with_name(f"{self.path.name}.tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump({"written": self.written, "removed": self.removed}, handle, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


@contextlib.contextmanager
def _changing(data_dir: Path):
    """This process's turn to change the data folder (see CHANGES_LOCK)."""
    lock = FileLock(str(data_dir / CHANGES_LOCK))
    try:
        lock.acquire(timeout=BUILD_WAIT_SECONDS)
    except Timeout:
        raise UploadError("another process is changing the documents; try again when it has finished",
                          status=503) from None
    try:
        yield
    finally:
        lock.release()


def recover_interrupted_changes(engine) -> list[str]:
    """Put the data folder back as it was before an upload or deletion that a killed process left half
    done (the replaced or removed file back under its name, an added file gone), or finish one whose index
    build had already switched over (the old version dropped). Returns the files it restored or removed;
    does nothing while another process is changing the folder."""
    data_dir = Path(engine.settings.data_dir)
    try:
        journals = sorted(data_dir.glob(f"{JOURNAL_PREFIX}*.json"))
        asides = sorted(data_dir.glob(f"{ASIDE_PREFIX}*"))
    except OSError:
        return []
    if not journals and not asides:
        return []
    lock = FileLock(str(data_dir / CHANGES_LOCK))
    try:
        lock.acquire(timeout=0)
    except Timeout:  # a change is under way (in this process or another): it finishes or undoes itself
        return []
    except OSError:  # a read-only data folder: nothing can be put back
        return []
    try:
        try:
            indexed = (engine.store.read_manifest() or {}).get("files", {})
        except Exception:  # no usable index: nothing was switched over, so everything is undone
            indexed = {}
        changed: list[str] = []
        named: set[str] = set()
        for journal in journals:
            try:
                record = json.loads(journal.read_text(encoding="utf-8"))
                written, removed = list(record["written"]), list(record["removed"])
            except (OSError, ValueError, KeyError, TypeError):
                log.error("cannot read %s: the change it describes was left as it is", journal)
                continue
            named |= {entry["aside"] for entry in written + removed if entry.get("aside")}
            changed += _finish_or_undo(data_dir, written, removed, indexed)
            journal.unlink(missing_ok=True)
        for aside in asides:  # set aside by a version that wrote no journal: the old version comes back
            if aside.name in named or not aside.exists():
                continue
            name = aside.name[len(ASIDE_PREFIX):].partition("-")[2]
            target = aside.with_name(name)
            if name and indexed.get(name) is not None and indexed.get(name) == _sha256(target) != _sha256(aside):
                aside.unlink()  # the new version was indexed
            elif name:
                os.replace(aside, target)
                changed.append(name)
        if changed:
            log.warning("an upload or deletion was interrupted; the data folder is back as it was: %s", changed)
        return changed
    finally:
        lock.release()


def _finish_or_undo(data_dir: Path, written: list[dict], removed: list[dict], indexed: dict) -> list[str]:
    switched = (all(indexed.get(entry["name"]) == entry["sha256"] for entry in written)
                and all(entry["name"] not in indexed for entry in removed))
    changed = []
    for entry in written + removed:
        aside = data_dir / entry["aside"] if entry.get("aside") else None
        if switched:
            if aside is not None:
                aside.unlink(missing_ok=True)
            continue
        target = data_dir / entry["name"]
        if aside is not None and aside.exists():
            os.replace(aside, target)  # the old version over the new one, or the removed file back
            changed.append(entry["name"])
        elif aside is None and "sha256" in entry and _sha256(target) == entry["sha256"]:
            target.unlink()  # added by the change
            changed.append(entry["name"])
    return changed


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

    data_dir = Path(settings.data_dir)
    with _writing, _changing(data_dir):
        report = ChangeReport()
        journal = _Journal(data_dir)
        plan = []
        for (name, data), base in zip(files, names, strict=True):
            target = _inside(data_dir, base)
            aside = _aside_path(target) if replace and target.is_file() and not target.is_symlink() else None
            plan.append((name, data, base, target, aside))
            journal.written.append({"name": journal.relative(target), "sha256": hashlib.sha256(data).hexdigest(),
                                    "aside": journal.relative(aside) if aside else None})
        written: list[Path] = []
        set_aside: dict[Path, Path] = {}  # replaced file → its hidden copy, restored if anything fails
        journal.save()
        try:
            for name, data, base, target, aside in plan:
                if aside is not None:
                    os.replace(target, aside)
                    set_aside[target] = aside
                try:
                    save_upload(settings, name, data, replace=False)
                except UploadError as error:
                    problems.append(error)
                    continue
                (report.replaced if aside else report.added).append(base)
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
            journal.remove()
            raise
        for aside in set_aside.values():
            with contextlib.suppress(FileNotFoundError):
                aside.unlink()
        journal.remove()
    log.info("added %s, replaced %s: %s", report.added, report.replaced, report.build.summary())
    return report


def delete_document(engine, source: str, progress: Progress | None = None) -> ChangeReport:
    """Remove one indexed document (its path as /api/documents lists it) and update the index; the file
    comes back if the update fails. Nothing else in the data folder can be removed this way (a file the
    index skipped, a file of another kind, a folder), and the last document cannot: an index needs one."""
    settings: Settings = engine.settings
    if not isinstance(source, str) or not source.strip():
        raise UploadError("no document named")
    if any(unicodedata.category(character) in ("Cc", "Cf") for character in source):
        raise UploadError("the document name holds control characters", name=source[:200])
    shown = source[:200]
    not_indexed = UploadError(f"{shown!r} is not an indexed document; only the documents GET /api/documents "
                              f"lists can be removed", status=404, name=shown)
    relative = PurePosixPath(source.replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts or any(p.startswith(".") for p in relative.parts):
        raise not_indexed
    data_dir = Path(settings.data_dir)
    with _writing, _changing(data_dir):
        # What the index holds, not what the folder holds: the folder may keep anything of the user's.
        indexed = (engine.store.read_manifest() or {}).get("files", {})
        if relative.as_posix() not in indexed:
            raise not_indexed
        target = data_dir / relative
        if target.is_symlink() or not target.is_file():
            raise UploadError(f"no document {shown!r} in the data folder", status=404, name=shown)
        _inside(data_dir, relative.as_posix())
        if set(indexed) <= {relative.as_posix()}:
            raise UploadError(f"{source} is the only indexed document; add another before removing it",
                              status=409, name=source)
        journal = _Journal(data_dir)
        aside = _aside_path(target)
        journal.removed.append({"name": journal.relative(target), "aside": journal.relative(aside)})
        journal.save()
        os.replace(target, aside)
        try:
            build = engine.build_index(progress=progress, show_bar=False, wait=BUILD_WAIT_SECONDS)
        except BaseException:
            os.replace(aside, target)
            journal.remove()
            raise
        aside.unlink()
        journal.remove()
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
