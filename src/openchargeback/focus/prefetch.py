"""Read the next batches on a second thread while the caller stores the current one.

Arrow parses with the GIL released and SQLite/psycopg release it while writing, so on
two cores reading and storing overlap. At most ``depth`` batches wait in memory.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

_DONE = object()


def prefetch(batches: Iterator, depth: int = 2) -> Iterator:
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in batches:
                while not stop.is_set():
                    try:
                        q.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("done", _DONE))
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(("error", exc))

    worker = threading.Thread(target=produce, name="focus-reader", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = q.get()
            if kind == "item":
                yield value
            elif kind == "done":
                return
            else:
                raise value
    finally:
        stop.set()
        while worker.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)
