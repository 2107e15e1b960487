"""Custom Rasa NLU components of the bot (referenced from ``config.yml``)."""
