"""Verified downloads: mirrors in turn, a retry each, pinned checksums, atomic rename.

A file only ever appears under its final name after all of its bytes arrived and its checksum
matched; the bytes go to a temporary file in the same folder first, which is removed on failure.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from engine.errors import DataError
from engine.fileio import atomic_write

__all__ = ["DownloadError", "check_digest", "download_file", "download_files"]

_CHUNK = 1 << 16


class DownloadFailed(Exception):
    """One attempt at one URL failed; the message says why."""


class DownloadError(DataError):
    """Every mirror failed for a file; ``tried`` holds "url (reason)" for each mirror."""

    def __init__(self, message: str, tried: list[str]) -> None:
        super().__init__(message)
        self.tried = tried


def _algorithm(digest: str) -> str:
    # A pinned digest's length says which hash it is: torchvision pins md5, we accept sha256 too.
    algorithms = {32: "md5", 64: "sha256"}
    if len(digest) not in algorithms:
        raise ValueError(f"checksum {digest!r} is neither an md5 (32 hex) nor a sha256 (64 hex)")
    return algorithms[len(digest)]


def check_digest(path: str | os.PathLike, digest: str) -> bool:
    """True when the file's md5 or sha256 (chosen by the digest's length) equals digest."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, _algorithm(digest)).hexdigest() == digest.lower()


def _fetch(url: str, dest: Path, digest: str | None, timeout: float, progress: bool) -> None:
    """Download url to dest through a temporary file; raise DownloadFailed on any problem."""
    h = hashlib.new(_algorithm(digest)) if digest else None
    try:
        with atomic_write(dest) as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            got = 0
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False,
                      disable=None if progress else True) as bar:
                while chunk := resp.read(_CHUNK):
                    out.write(chunk)
                    got += len(chunk)
                    if h is not None:
                        h.update(chunk)
                    bar.update(len(chunk))
            # http.client returns a short body without complaint when the peer hangs up early.
            if total is not None and got != total:
                raise DownloadFailed(f"connection closed after {got} of {total} bytes")
            if h is not None and h.hexdigest() != digest.lower():
                raise DownloadFailed(
                    f"checksum mismatch: {h.name} {h.hexdigest()}, expected {digest}")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # URLError wraps the socket error in .reason; HTTPError's str() has the status code.
        wrapped = isinstance(exc, urllib.error.URLError)
        wrapped = wrapped and not isinstance(exc, urllib.error.HTTPError)
        raise DownloadFailed(str(exc.reason if wrapped else exc) or type(exc).__name__) from exc


def download_file(filename: str, folder: str | os.PathLike, mirrors: Sequence[str],
                  digest: str | None = None, retries: int = 1, timeout: float = 30.0,
                  progress: bool = True) -> Path:
    """Fetch filename from the first mirror that serves it intact into folder; return its path.

    Each mirror is tried 1 + retries times. Raises DownloadError naming each mirror and error.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / filename
    errors: list[str] = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        for _ in range(1 + retries):
            try:
                _fetch(url, dest, digest, timeout, progress)
                return dest
            except DownloadFailed as exc:
                last = f"{url} ({exc})"
        errors.append(last)
    raise DownloadError(
        f"could not download {filename} into {folder}; tried {'; '.join(errors)}", errors
    )


def download_files(files: dict[str, str | None], folder: str | os.PathLike,
                   mirrors: Sequence[str], what: str, elsewhere: Sequence[str | os.PathLike] = (),
                   **kwargs: object) -> list[Path]:
    """Download every file (name -> digest) into folder, or raise one DataError saying it all.

    The message lists the files expected, where they may be put by hand, and each mirror tried.
    """
    done: list[Path] = []
    for name, digest in files.items():
        path = Path(folder) / name
        if path.exists() and (digest is None or check_digest(path, digest)):
            done.append(path)
            continue
        try:
            done.append(download_file(name, folder, mirrors, digest, **kwargs))
        except DownloadError as exc:
            places = ", ".join(str(p) for p in [folder, *elsewhere])
            tried = "; ".join(exc.tried) or "none (the mirror list is empty)"
            raise DataError(
                f"{what}: download failed; expected files {', '.join(files)} "
                f"(plain or .gz) in one of: {places}; put them there by hand or fix the "
                f"network; mirrors tried: {tried}"
            ) from exc
    return done
