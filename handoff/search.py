"""Text normalisation for history search: the same words on both databases.

The database does the searching (SQLite FTS5, PostgreSQL ``tsvector`` with a GIN index);
this module decides what a "word" is, so that both backends index and query the same
terms: accents stripped (``á`` -> ``a``, ``ñ`` -> ``n``; PostgreSQL's ``unaccent`` is not
assumed), case folded, everything that is not a letter or a digit a separator, and dates
(``2026-11-25``, ``2026/11/25``, ``25/11/2026``, ``25-11-2026``) turned into one term
(``d20261125``) so that a date typed as a keyword finds it, and ``2026-11`` finds the month.

A history document is the set of distinct terms of one terminated attention (customer,
campaign, message texts, the bot's context, form values, end date): search is by word
prefix ("fact" finds "factura"), all words of the keyword must match, in any order.
Distinct terms keep documents small (a long conversation repeats its words) and within
PostgreSQL's tsvector limits.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

# Longer "words" are noise (base64, URLs run together) and nobody types them as a keyword.
MAX_TERM_LENGTH = 60
# A document never grows past this (PostgreSQL's tsvector is limited to 1 MB).
MAX_DOCUMENT_CHARS = 200_000
# Keyword words shorter than this match whole words only (a 1-letter prefix matches half
# the dictionary and says nothing).
MIN_PREFIX_LENGTH = 2
MAX_QUERY_TERMS = 8

_ISO_DATE = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})(?:[-/.](\d{1,2}))?(?!\d)")
_DMY_DATE = re.compile(r"(?<!\d)(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?!\d)")
_SEPARATORS = re.compile(r"[\W_]+", re.UNICODE)


def fold(text: str) -> str:
    """``text`` without accents and case: "Devolución" and "devolucion" read the same."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def _date_term(year: str, month: str, day: str | None) -> str:
    if not (1 <= int(month) <= 12) or (day is not None and not 1 <= int(day) <= 31):
        return f" {year} {month} {day or ''} "
    return f" d{year}{int(month):02d}{'' if day is None else f'{int(day):02d}'} "


def _dates_as_terms(text: str) -> str:
    text = _DMY_DATE.sub(lambda m: _date_term(m.group(3), m.group(2), m.group(1)), text)
    return _ISO_DATE.sub(lambda m: _date_term(m.group(1), m.group(2), m.group(3)), text)


def terms(text: str | None) -> list[str]:
    """The words of ``text`` as the search sees them (folded, dates as one term)."""
    if not text:
        return []
    folded = _dates_as_terms(fold(text))
    return [word for word in _SEPARATORS.split(folded) if word and len(word) <= MAX_TERM_LENGTH]


def date_term(value: date | datetime) -> str:
    """The term of a day (``d20261125``), for the end date of an attention."""
    return f"d{value.year:04d}{value.month:02d}{value.day:02d}"


def _texts(value: Any) -> Iterator[str]:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, (str, int, float)):
        yield str(value)
    elif isinstance(value, (date, datetime)):
        yield value.isoformat()
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            yield from _texts(item)


def document(parts: Iterable[Any]) -> str:
    """The search document: distinct terms of every part (texts, numbers, lists, dicts
    of them), in first-seen order, separated by spaces."""
    seen: dict[str, None] = {}
    size = 0
    for part in parts:
        for text in _texts(part):
            for term in terms(text):
                if term in seen:
                    continue
                size += len(term) + 1
                if size > MAX_DOCUMENT_CHARS:
                    return " ".join(seen)
                seen[term] = None
    return " ".join(seen)


def query_terms(keyword: str | None) -> list[tuple[str, bool]]:
    """The keyword as (term, is_prefix) pairs; every one must match. Empty: no keyword."""
    found: list[tuple[str, bool]] = []
    for term in terms(keyword):
        pair = (term, len(term) >= MIN_PREFIX_LENGTH)
        if pair not in found:
            found.append(pair)
    return found[:MAX_QUERY_TERMS]


def fts5_query(pairs: list[tuple[str, bool]]) -> str:
    """An FTS5 MATCH expression: ``"fact"* AND "juan"*`` (terms are letters and digits only)."""
    return " AND ".join(f'"{term}"' + ("*" if prefix else "") for term, prefix in pairs)


def tsquery(pairs: list[tuple[str, bool]]) -> str:
    """A PostgreSQL ``to_tsquery('simple', ...)`` text: ``fact:* & juan:*``."""
    return " & ".join(f"'{term}'" + (":*" if prefix else "") for term, prefix in pairs)


def matches(pairs: list[tuple[str, bool]], text: str | None) -> bool:
    """Whether every keyword term is (a prefix of) a word of ``text``: the same rule as the
    databases', for small things searched in Python (label names)."""
    words = terms(text)
    return bool(pairs) and all(any(w.startswith(t) if prefix else w == t for w in words) for t, prefix in pairs)


def history_document(
    *,
    customer_name: str | None,
    customer_id: str,
    campaign_name: str | None,
    message_texts: Iterable[str | None],
    context: Iterable[Any],
    form: Any,
    ended_at: datetime,
) -> str:
    """The search document of one terminated attention."""
    context_texts = [entry.get("text") for entry in context if isinstance(entry, dict)]
    return document([customer_name, customer_id, campaign_name, date_term(ended_at), list(message_texts), context_texts, form])


__all__ = ["date_term", "document", "fts5_query", "history_document", "matches", "query_terms", "terms", "tsquery"]
