"""Benchmarks of the project: ``make bench`` (``python -m bench``) writes bench/results.md.

One entry module per part of issue 7: ``ack`` (webhook acknowledgement), ``bot_replies``
(bot replies end to end against Rasa's built-in facebook channel), ``handoff_path``
(webhook to agent WebSocket), ``open_race`` (concurrent opens), ``history_search``
(keyword search as the history grows), ``memory``; a part's other modules share its
prefix (``ack_``, ``bot_``, ``handoff_``, ``history_``). Shared pieces: ``load`` (the load
generator), ``servers`` (subprocesses and /proc), ``stores`` (fresh PostgreSQL schema,
Redis prefix), ``stats``, ``report``, ``profiling``.
"""
