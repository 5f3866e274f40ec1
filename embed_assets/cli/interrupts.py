"""Ctrl-C that Dagster's in-process execution would otherwise drop.

`execute_in_process` holds SIGINT in a flag it reads only between steps and clears when the run
ends, so a Ctrl-C while resources start or stop, or after the last step, is lost and the
refresh goes on waiting for its jobs. The C-level signal handler also writes every signal to
the wakeup fd, whichever Python handler is installed; reading it after the run tells us.
"""

import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def keep_interrupts() -> Iterator[None]:
    """Delivers SIGINT again after the block if it arrived while the block ran.

    With Python's own handler that raises `KeyboardInterrupt`, also over the block's own error:
    the user asked to stop.

    Only on the main thread (elsewhere Python delivers no signals, and the block just runs).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous)
        interrupted = signal.SIGINT in _drain(reader)
        reader.close()
        writer.close()
        if interrupted:  # delivered again to the handler now in place (Python's: KeyboardInterrupt)
            signal.raise_signal(signal.SIGINT)


def _drain(reader: socket.socket) -> bytes:
    received = b""
    while True:
        try:
            chunk = reader.recv(4096)
        except BlockingIOError:
            return received
        if not chunk:
            return received
        received += chunk
