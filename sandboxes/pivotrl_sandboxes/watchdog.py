"""The watchdog: cleans up a session's sandboxes when its owner dies, even by ``kill -9``.

Started by :meth:`pivotrl_sandboxes.session.Session.watch` with a pipe on stdin. It blocks
reading stdin; EOF means the owner closed the pipe (normal exit) or died. Then it removes the
session's containers (``--docker``) and bwrap state folders (``--bwrap-dir DIR``) and exits;
unless it was sent ``handover`` first (a newer watchdog with more to watch replaced it).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys

from .bwrap_state import cleanup_state_dir
from .containers import reap_containers
from .session import HANDOVER


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pivotrl_sandboxes.watchdog")
    parser.add_argument("--session", required=True)
    parser.add_argument("--docker", action="store_true")
    parser.add_argument("--bwrap-dir", action="append", default=[])
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    received = b""
    with contextlib.suppress(Exception):
        while chunk := sys.stdin.buffer.read(65536):
            received += chunk
    if HANDOVER in received:
        return 0  # a newer watchdog of the same session took over
    if args.docker:
        with contextlib.suppress(Exception):
            reap_containers(session=args.session)
    for folder in args.bwrap_dir:
        with contextlib.suppress(Exception):
            cleanup_state_dir(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
