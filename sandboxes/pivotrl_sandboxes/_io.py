"""Small helpers shared by the backends: capped output, tar packing, path checks."""

from __future__ import annotations

import io
import tarfile
import threading
import time
from collections.abc import Mapping
from typing import IO

from pivotrl_core import SandboxError

__all__ = ["Capped", "check_relpath", "drain", "pack_files", "unpack_files"]


class Capped:
    """Keeps the first ``limit`` bytes written to it and counts the rest (the rest is dropped)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._parts: list[bytes] = []
        self._size = 0
        self.dropped = 0

    def add(self, data: bytes | None) -> None:
        if not data:
            return
        room = self.limit - self._size
        if room > 0:
            keep = data[:room]
            self._parts.append(keep)
            self._size += len(keep)
        self.dropped += max(0, len(data) - max(room, 0))

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def raw(self) -> bytes:
        return b"".join(self._parts)

    def text(self) -> str:
        return self.raw().decode("utf-8", "replace")


def drain(stream: IO[bytes], sink: Capped) -> threading.Thread:
    """Read ``stream`` to EOF into ``sink`` on a daemon thread (beyond the cap it is discarded)."""

    def _run() -> None:
        try:
            while chunk := stream.read(65536):
                sink.add(chunk)
        except (OSError, ValueError):
            pass

    t = threading.Thread(target=_run, daemon=True)
    t.start()
    return t


def check_relpath(path: str) -> str:
    """A path relative to the work dir, normalised; absolute paths and ``..`` are refused."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if path.startswith("/") or ".." in parts or not parts:
        raise ValueError(f"sandbox file path {path!r} must be relative to the work dir, without '..'")
    return "/".join(parts)


def _mode(data: bytes) -> int:
    return 0o755 if data.startswith(b"#!") else 0o644


def pack_files(files: Mapping[str, str | bytes], uid: int = 1000, gid: int = 1000) -> bytes:
    """A tar archive of ``files`` (text is UTF-8; files starting with ``#!`` are executable)."""
    buf = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs: set[str] = set()
        for raw_path, content in files.items():
            path = check_relpath(raw_path)
            data = content.encode() if isinstance(content, str) else bytes(content)
            parent = path.rsplit("/", 1)[0] if "/" in path else ""
            for i, _ in enumerate(parent.split("/") if parent else []):
                d = "/".join(parent.split("/")[: i + 1])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.uid, info.gid, info.mtime = (
                        tarfile.DIRTYPE,
                        0o755,
                        uid,
                        gid,
                        now,
                    )
                    tar.addfile(info)
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), _mode(data), uid, gid, now
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def unpack_files(blob: bytes, limit: int) -> dict[str, bytes]:
    """Regular files, directories (``"dir/"`` -> ``b""``) and symlinks (``b"-> target"``) of a tar.

    A broken archive or one holding more than ``limit`` bytes raises SandboxError.
    """
    try:
        return _unpack(blob, limit)
    except (tarfile.TarError, ValueError) as e:
        raise SandboxError(f"cannot read the sandbox work dir: {e}") from e


def _unpack(blob: bytes, limit: int) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    total = 0
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as tar:
        for member in tar:
            name = member.name[2:] if member.name.startswith("./") else member.name
            if name in (".", ""):
                continue
            if member.isdir():
                out[name.rstrip("/") + "/"] = b""
            elif member.issym():
                out[name] = b"-> " + member.linkname.encode()
            elif member.isfile():
                fh = tar.extractfile(member)
                data = fh.read() if fh else b""
                total += len(data)
                if total > limit:
                    raise ValueError(f"work dir holds more than {limit} bytes")
                out[name] = data
    return out
