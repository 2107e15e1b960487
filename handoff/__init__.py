"""The handoff domain: attentions, campaigns, agents, customers, messages and history.

This package is the centre of the house: it imports nothing from ``connectors``,
``actions`` or ``sandbox``; those adapters import it (see docs/ARCHITECTURE.md).
"""
