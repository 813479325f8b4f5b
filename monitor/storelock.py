"""One writer per store: the decider holds an advisory lock on `<store>.lock` while it runs.

Two deciders against one store would each believe they own the endpoints they disabled and act
on the same decision twice. The lock file also says who holds it (pid, host, since), so a
second one refuses to start naming the holder. The kernel drops the lock when its holder dies,
`kill -9` included: a stale lock file never blocks a restart.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from monitor.clock import Clock
from monitor.errors import StoreError

__all__ = ["StoreLock"]


class StoreLock:
    def __init__(self, store: Path, clock: Clock) -> None:
        self.path = Path(f"{store}.lock")
        self._clock = clock
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise StoreError naming who holds it."""
        if self._fd is not None:
            return
        store = self.path.with_suffix("")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            cause = "a file is in the way" if isinstance(e, FileExistsError) else e.strerror
            raise StoreError(
                f"the store at {store} cannot be created, nor its folder ({cause}): create "
                f"{store.parent}, writable by regionwatch's user, or set storage.path to "
                "another file"
            ) from e
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StoreError(
                f"the store's lock file {self.path} cannot be opened ({e.strerror}): give "
                "regionwatch's user write access to the store's folder"
            ) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise StoreError(
                f"the store at {store} is in use by another regionwatch "
                f"({holder}): one decider per store; stop that one, or give this one its own "
                "storage.path"
            ) from None
        since = self._clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {since}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
