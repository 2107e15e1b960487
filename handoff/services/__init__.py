"""The handoff domain's use cases, one service per group (Chatwoot's ``app/services/`` is
the model), each a class built on the shared ``ServiceContext``:

- ``inbound``: the bot hands a customer over; customer messages into the active attention
- ``attentions``: open, transfer, release, terminate (the state moves)
- ``forms``: the bot's slots and the agent's drafts of the attention's form
- ``presence``: agents' heartbeats, the supervisor's overview, orphans back to the queue
- ``outbox``: agent messages out through Meta, and the sweep after a crash
- ``receipts``: Meta's statuses and echoes, the agent's read marker
- ``outbound``: an agent writes first to a past customer
- ``labels``, ``agents``

``handoff.service.HandoffService`` composes them; ``shared`` holds what they share.
"""
