"""Read the next batches on a second thread while the caller stores the current one.

Arrow parses with the GIL released and SQLite/psycopg release it while writing, so on
two cores reading and storing overlap. At most ``depth`` batches wait in memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

_T = TypeVar("_T")


def prefetch(batches: Iterator[_T], depth: int = 2) -> Iterator[_T]:
    # (item,) for an item, None once the input is exhausted, the exception it raised
    q: queue.Queue[tuple[_T] | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in batches:
                while not stop.is_set():
                    try:
                        q.put((item,), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(None)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    worker = threading.Thread(target=produce, name="focus-reader", daemon=True)
    worker.start()
    try:
        while True:
            got = q.get()
            if got is None:
                return
            if isinstance(got, BaseException):
                raise got
            yield got[0]
    finally:
        stop.set()
        while worker.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)
