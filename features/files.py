"""Writing a file whole or not at all: the one way the project writes its outputs (scores,
reports, rejected rows)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def write_atomically(path: str | Path, write: Callable[[str], None]) -> Path:
    """`write(tmp)` fills a temporary file beside `path` (the same folder, so the rename is
    atomic), which then replaces `path`, with the permissions a plain `open` would give (the
    umask: a report or a scores file is meant to be shared). Folders are made as needed. On any
    failure the temporary file is removed and `path` is left as it was; OSError propagates."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(handle)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
