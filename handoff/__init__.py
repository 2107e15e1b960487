"""The handoff domain: attentions, campaigns, agents, customers, messages and history.

This package is the centre of the house: it imports nothing from ``connectors``,
``actions`` or ``handoff.desk``; those adapters import it.
"""
