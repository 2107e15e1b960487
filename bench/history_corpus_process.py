"""The generated history in a child process, a batch ahead of the loading, so that generating
(mostly the product's text normalisation) and loading use both cores."""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import time
from typing import Any

from bench.history_corpus import Corpus, Staff


class CorpusProcess:
    """A ``Corpus`` in a child process (spawned: no copy of this process's event loop or
    database threads), at most two batches ahead of the caller."""

    def __init__(self, staff: Staff, seed: int = 7, batch_messages: int = 20_000) -> None:
        context = multiprocessing.get_context("spawn")
        self._targets: Any = context.Queue()
        self._batches: Any = context.Queue(maxsize=2)
        self._process = context.Process(
            target=_produce,
            args=(staff, seed, batch_messages, self._targets, self._batches),
            name="bench-history-corpus",
            daemon=True,
        )
        self._process.start()
        self.seconds = 0.0  # generation time in the child

    async def batches(self, messages: int):
        """The conversations until ``messages`` were made in all, batch by batch."""
        self._targets.put(messages)
        loop = asyncio.get_running_loop()
        while True:
            # A bounded wait, so a child that died does not hang the benchmark.
            item = await loop.run_in_executor(None, self._batches.get, True, 600)
            if item is None:
                return
            seconds, batch = item
            self.seconds += seconds
            yield batch

    def close(self) -> None:
        self._targets.put(None)
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5)


def _produce(staff: Staff, seed: int, batch_messages: int, targets: Any, batches: Any) -> None:
    corpus = Corpus(staff, seed)
    parent = multiprocessing.parent_process()

    def hand_over(item: Any) -> bool:
        """Put ``item`` on the queue; False when the benchmark is gone (killed: nobody will read it)."""
        while parent is None or parent.is_alive():
            try:
                batches.put(item, timeout=1)
                return True
            except queue.Full:
                continue
        return False

    while parent is None or parent.is_alive():
        try:
            target = targets.get(timeout=1)
        except queue.Empty:
            continue
        if target is None:
            return
        while corpus.messages_made < target:
            started = time.process_time()
            batch = corpus.until(target, batch_messages)
            if not hand_over((time.process_time() - started, batch)):
                return
        if not hand_over(None):
            return
