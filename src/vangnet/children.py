"""Child processes that must not outlive the process that started them."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """On Linux, kill this process when its parent dies (a `vangnet serve` or `vangnet triage`
    killed with ``kill -9`` leaves no server workers or triage workers behind)."""
    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux after all
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_blocking = False


def block_stop_signals_in_children() -> None:
    """From now on, every process forked from this one starts with SIGINT and SIGTERM
    blocked: one that arrives stays pending, not lost, until the process calls
    `unblock_stop_signals` with its own handlers in place.

    A forked server worker inherits its parent's handlers, which only mark the parent's
    copy of the server as interrupted: a Ctrl-C (the terminal signals the whole process
    group) or the parent's SIGTERM that lands while the worker imports and builds its app
    would be lost, and the worker would then start and serve on until the parent kills it
    (``kill -9``, after its grace period). Idempotent."""
    global _blocking
    if not _blocking:
        _blocking = True
        # Blocked in the forking thread across the fork itself, so that the child starts
        # with them blocked (a signal that lands between the fork and anything the child
        # runs would reach the parent's handlers); the parent gets its mask back after it.
        os.register_at_fork(before=_block, after_in_parent=_restore)


_parent_masks: list[set[int | signal.Signals]] = []


def _block() -> None:
    _parent_masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS))


def _restore() -> None:
    if _parent_masks:
        signal.pthread_sigmask(signal.SIG_SETMASK, _parent_masks.pop())


def unblock_stop_signals() -> bool:
    """Let SIGINT and SIGTERM in (a pending one is delivered now); True if one was pending."""
    pending = bool(signal.sigpending() & set(STOP_SIGNALS))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    return pending
