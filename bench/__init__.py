"""Benchmarks of the project: ``make bench`` (``python -m bench``) writes bench/results.md.

One module per part of issue 7: ``ack`` (webhook acknowledgement), ``bot_replies`` (bot
replies end to end against Rasa's built-in facebook channel), ``handoff_path`` (not yet),
``open_race`` (concurrent opens), ``history_search`` (keyword search as the history
grows), ``memory``. Shared pieces: ``load`` (the load generator), ``servers``
(subprocesses and /proc), ``stores`` (fresh PostgreSQL schema, Redis prefix), ``stats``,
``report``, ``profiling``.
"""
