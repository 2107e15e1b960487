"""Rasa input and output channels for Meta's Messenger and Instagram."""
