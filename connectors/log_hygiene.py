"""What may reach a log line: never a secret, a password hash or a session token, at any
level; the customers' words and names only at DEBUG.

Rasa's ``--debug`` puts the root logger at DEBUG, and then libraries log what they handle:
SQLAlchemy every statement's parameters (INFO) and every fetched row (DEBUG), aiosqlite
every call with its parameters (DEBUG). Those carry agents' scrypt hashes, customers'
messages and form values. The causes are shut where they are: the engine hides statement
parameters (``connectors.storage.db``), and :func:`install_log_hygiene` drops the row and call
records. Our own log calls above DEBUG name ids and kinds, never what a customer wrote.

As a last line, every record's message and traceback is cleaned of the configured secrets'
values, of anything shaped like a stored password hash and of anything shaped like a desk
session token, whatever logger it comes from and whatever handlers an operator attaches.
Installed once per process by whatever starts first (the channels, the desk, the action
server's guard, the database); each caller adds the secrets it holds.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

HIDDEN = "[hidden]"

# Shorter values would hide ordinary words; real secrets are far longer.
_SHORTEST_SECRET = 8

# connectors.desk.accounts.hash_password's format, and the desk's session tokens (JWT,
# "eyJ" is the base64 of '{"'): hidden even where no configured value matches.
_SHAPES = re.compile(
    r"scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+"
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}"
)

# (logger, message format) of library records that carry statement parameters or rows.
_DROPPED = {
    ("sqlalchemy.engine.Engine", "Row %r"),
    ("aiosqlite", "executing %s"),
    ("aiosqlite", "operation %s completed"),
}

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_pattern: re.Pattern[str] | None = None
_installed = False


def install_log_hygiene(*secrets: str | None) -> None:
    """Hide ``secrets`` (empty ones are ignored) from every later log record; the first
    call also installs the record factory and the library filters. Safe to call often."""
    global _installed
    _remember(secrets)
    with _lock:
        if _installed:
            return
        _installed = True
    logging.setLogRecordFactory(_cleaning(logging.getLogRecordFactory()))
    for name in {logger for logger, _ in _DROPPED}:
        logging.getLogger(name).addFilter(_drop_parameter_records)


def redact(text: str) -> str:
    """``text`` with every configured secret and every hash- or token-shaped value hidden."""
    if _pattern is not None:
        text = _pattern.sub(HIDDEN, text)
    return _SHAPES.sub(HIDDEN, text)


def _remember(secrets: Iterable[str | None]) -> None:
    global _secrets, _pattern
    new = {secret for secret in secrets if secret and len(secret) >= _SHORTEST_SECRET}
    with _lock:
        if new <= _secrets:
            return
        _secrets = _secrets | new
        # Longest first, so a secret that contains another is hidden whole.
        _pattern = re.compile("|".join(re.escape(secret) for secret in sorted(_secrets, key=len, reverse=True)))


def _is_dropped(record: logging.LogRecord) -> bool:
    # A message may be any object, a dict for instance, which a set cannot look up.
    return isinstance(record.msg, str) and (record.name, record.msg) in _DROPPED


def _drop_parameter_records(record: logging.LogRecord) -> bool:
    return not _is_dropped(record)


def _cleaning(make_record: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    """A record factory: records are cleaned once, when made, so every handler and
    formatter (an operator's too) gets the clean text. Made only for records a logger lets
    through, so at INFO the DEBUG records cost nothing."""

    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        if _is_dropped(record):
            return record  # left as made, so that the filter still knows and drops it
        try:
            message = record.getMessage()
        except Exception:  # a bad format: logging reports it when a handler formats it
            return record
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[0] is not None:
            # Exception texts can quote a value; the formatter uses exc_text when it is set.
            traceback = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(traceback)
        return record

    return make


__all__ = ["HIDDEN", "install_log_hygiene", "redact"]
