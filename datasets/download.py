"""Verified downloads: mirrors in turn, a retry each, pinned checksums, atomic rename.

A file only ever appears under its final name after all of its bytes arrived, within its
deadline, and passed its checks (the pinned checksum if any, else the file's own integrity: a
gzip stream read to its CRC, an IDX header and size). The bytes go to a locked temporary file
``.NAME.RAND.part`` in the same folder first; one left by a killed download is removed on the
next attempt (its lock died with its process).
"""

from __future__ import annotations

import fcntl
import glob
import gzip
import hashlib
import http.client
import os
import re
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm import tqdm

from engine.errors import DataError

__all__ = ["DownloadError", "check_digest", "check_gzip", "download_file", "download_files",
           "validate_digest"]

_CHUNK = 1 << 16
_HEX = frozenset("0123456789abcdef")
# Without an explicit deadline, a file gets this many socket timeouts in all.
DEADLINE_TIMEOUTS = 10

Check = Callable[[Path, str], None]  # (file to check, its final name); raises DataError
_ERRNO = re.compile(r"^\[Errno -?\d+\] ")  # "[Errno -2] Name or service not known"


class DownloadFailed(Exception):
    """One attempt at one URL failed; the message says why."""


class DownloadError(DataError):
    """Every mirror failed for a file; ``tried`` holds "url (reason)" for each mirror.

    ``reasons`` holds each distinct reason once, without the URLs (for a short message), and
    ``missing`` the names of the files that are still not there.
    """

    def __init__(self, message: str, tried: list[str], reasons: Sequence[str] = (),
                 missing: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.tried, self.reasons, self.missing = tried, list(reasons), list(missing)


def validate_digest(digest: object, name: str = "") -> str:
    """digest in lower case; DataError unless it is an md5 (32 hex) or a sha256 (64 hex)."""
    ok = isinstance(digest, str) and len(digest) in (32, 64) and set(digest.lower()) <= _HEX
    if not ok:
        shown = repr(digest)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        where = f"{name}: " if name else ""
        raise DataError(f"{where}checksum {shown} is neither an md5 (32 hex digits) nor a "
                        "sha256 (64 hex digits); fix it or leave the file unpinned")
    return digest.lower()


def _algorithm(digest: str) -> str:
    # A pinned digest's length says which hash it is: torchvision pins md5, we accept sha256 too.
    return {32: "md5", 64: "sha256"}[len(digest)]


def check_digest(path: str | os.PathLike, digest: str) -> bool:
    """True when the file's md5 or sha256 (chosen by the digest's length) equals digest."""
    digest = validate_digest(digest, Path(path).name)
    with open(path, "rb") as f:
        return hashlib.file_digest(f, _algorithm(digest)).hexdigest() == digest


def check_gzip(path: Path, name: str) -> None:
    """Decompress a gzip file to its end in chunks (the CRC and length are checked there)."""
    try:
        with gzip.open(path, "rb") as f:
            while f.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{name}: corrupt gzip data ({exc})") from exc


def _default_check(name: str) -> Check | None:
    return check_gzip if name.endswith(".gz") else None


def _intact(path: Path, digest: str | None, check: Check | None) -> bool:
    """Whether a file already under its final name passes its checksum, else its check."""
    if digest is not None:
        return check_digest(path, digest)
    try:
        if check is not None:
            check(path, path.name)
    except DataError:
        return False
    return True


def _is_abandoned(path: str) -> bool:
    """True when no live process holds the lock of this temporary file."""
    try:
        with open(path, "rb") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
    except BlockingIOError:
        return False
    except OSError:  # gone already, or unreadable: leave it alone
        return False


def clean_partial(folder: Path, filename: str) -> list[Path]:
    """Remove the .NAME.RAND.part files of filename that killed downloads left; return them."""
    removed = []
    pattern = os.path.join(glob.escape(str(folder)), f".{glob.escape(filename)}.*.part")
    for tmp in glob.glob(pattern):
        if _is_abandoned(tmp):
            Path(tmp).unlink(missing_ok=True)
            removed.append(Path(tmp))
    return removed


def _receive(url: str, out: object, digest: str | None, timeout: float, deadline_at: float,
             label: str, progress: bool) -> None:
    """Stream url's body into out, within the deadline; check length and checksum."""
    h = hashlib.new(_algorithm(digest)) if digest else None
    left = deadline_at - time.monotonic()
    if left <= 0:
        raise DownloadFailed("deadline passed before this attempt")
    with urllib.request.urlopen(url, timeout=min(timeout, left)) as resp:
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        got = 0
        with tqdm(total=total, unit="B", unit_scale=True, desc=label, leave=False,
                  disable=None if progress else True) as bar:
            # read1: one recv at most, so a server that trickles bytes still meets the deadline.
            while chunk := resp.read1(_CHUNK):
                out.write(chunk)
                got += len(chunk)
                if h is not None:
                    h.update(chunk)
                bar.update(len(chunk))
                if time.monotonic() > deadline_at:
                    raise DownloadFailed(f"deadline passed after {got} bytes; the server is "
                                         "too slow, try another mirror or a larger deadline")
        # http.client returns a short body without complaint when the peer hangs up early.
        if total is not None and got != total:
            raise DownloadFailed(f"connection closed after {got} of {total} bytes")
        if h is not None and h.hexdigest() != digest:
            raise DownloadFailed(f"checksum mismatch: {h.name} {h.hexdigest()}, expected {digest}")


def _fetch(url: str, dest: Path, digest: str | None, timeout: float, deadline_at: float,
           check: Check | None, progress: bool) -> None:
    """Download url to dest through a locked temporary file; raise DownloadFailed on a problem."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            fcntl.flock(out.fileno(), fcntl.LOCK_EX)  # released by the kernel if we are killed
            _receive(url, out, digest, timeout, deadline_at, dest.name, progress)
            out.flush()
            if digest is None and check is not None:
                check(Path(tmp), dest.name)
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; these files are meant to be shared
            os.replace(tmp, dest)
    except DataError as exc:
        raise DownloadFailed(str(exc)) from exc
    except urllib.error.HTTPError as exc:
        # A redirect loop's message runs over several lines: keep the first.
        raise DownloadFailed(str(exc).splitlines()[0].rstrip(".")) from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # URLError wraps the socket error in .reason; HTTPError's str() has the status code.
        wrapped = isinstance(exc, urllib.error.URLError)
        wrapped = wrapped and not isinstance(exc, urllib.error.HTTPError)
        raise DownloadFailed(str(exc.reason if wrapped else exc) or type(exc).__name__) from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def download_file(filename: str, folder: str | os.PathLike, mirrors: Sequence[str],
                  digest: str | None = None, retries: int = 1, timeout: float = 30.0,
                  progress: bool = True, deadline: float | None = None,
                  check: Check | None = None) -> Path:
    """Fetch filename from the first mirror that serves it intact into folder; return its path.

    Each mirror is tried 1 + retries times, all within deadline seconds for the file (default
    DEADLINE_TIMEOUTS x timeout). Without a digest the file must pass check (default: a .gz
    file's gzip stream is read to its end). Raises DownloadError naming each mirror and error.
    """
    digest = None if digest is None else validate_digest(digest, filename)
    if not filename or filename in (".", "..") or "/" in filename or os.sep in filename:
        raise DataError(f"download file name {filename!r} must be one path component")
    if not timeout > 0 or (deadline is not None and not deadline >= 0):
        raise ValueError(f"timeout must be > 0 and deadline >= 0 seconds, got timeout={timeout}"
                         f", deadline={deadline}")
    check = _default_check(filename) if check is None else check
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{folder}: cannot create the download folder ({exc.strerror or exc}); "
                        "choose another root") from exc
    clean_partial(folder, filename)
    dest = folder / filename
    budget = DEADLINE_TIMEOUTS * timeout if deadline is None else deadline
    deadline_at = time.monotonic() + budget
    errors: list[str] = []
    reasons: dict[str, None] = {}  # distinct, in order
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        for _ in range(1 + retries):
            try:
                _fetch(url, dest, digest, timeout, deadline_at, check, progress)
                return dest
            except DownloadFailed as exc:
                last, reason = f"{url} ({exc})", str(exc)
            if time.monotonic() >= deadline_at:
                break
        errors.append(last)
        reasons[_ERRNO.sub("", reason)] = None
        if time.monotonic() >= deadline_at:
            errors.append(f"no more mirrors tried: the {budget:g} s deadline for {filename} "
                          "passed")
            break
    tried = "; ".join(errors) or "no mirror (the mirror list is empty)"
    raise DownloadError(f"could not download {filename} into {folder}; tried {tried}", errors,
                        list(reasons) or ["the mirror list is empty"], [filename])


def download_files(files: dict[str, str | None], folder: str | os.PathLike,
                   mirrors: Sequence[str], what: str, elsewhere: Sequence[str | os.PathLike] = (),
                   **kwargs: object) -> list[Path]:
    """Download every file (name -> digest) into folder, or raise one DataError saying it all.

    The message (one short line) names the first missing file and how many more, the folders
    searched and why the download failed; the DownloadError's ``tried`` lists each mirror's URL
    and error (shown in full with ``trainer --debug``).
    """
    files = {n: None if d is None else validate_digest(d, n) for n, d in files.items()}
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{what}: cannot create the download folder {folder} "
                        f"({exc.strerror or exc}); choose another root") from exc
    done: list[Path] = []
    for name, digest in files.items():
        path = Path(folder) / name
        check = kwargs.get("check") or _default_check(name)
        # A file that fails its checks (a truncated earlier download) is fetched again.
        if path.is_file() and _intact(path, digest, check):  # type: ignore[arg-type]
            done.append(path)
            continue
        try:
            done.append(download_file(name, folder, mirrors, digest, **kwargs))  # type: ignore[arg-type]
        except DownloadError as exc:
            missing = [n for n in files if Path(folder, n) not in done]
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            places = _places([Path(folder), *map(Path, elsewhere)])
            raise DownloadError(
                f"{what}: {name}{more} not in {places}; download failed "
                f"({'; '.join(exc.reasons)})", exc.tried, exc.reasons, missing
            ) from exc
    return done


def _places(paths: list[Path]) -> str:
    """Folders for a message, short: X/raw then X read "X(/raw)", the home folder reads ~."""
    parts: list[str] = []
    for i, path in enumerate(paths):
        if i and paths[i - 1] == path / "raw":
            parts[-1] = f"{_shown(path)}(/raw)"
        else:
            parts.append(_shown(path))
    return ", ".join(parts)


def _shown(path: str | os.PathLike) -> str:
    """path with the home folder as ~ (short enough for a one-line message)."""
    home = os.path.expanduser("~")
    text = str(path)
    return "~" + text[len(home):] if home not in ("", "/") and text.startswith(home + os.sep) \
        else text
