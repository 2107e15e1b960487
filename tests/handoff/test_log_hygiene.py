"""connectors.log_hygiene and the engine's settings: what a log record may carry, whoever
logs it. The whole story at DEBUG is tests/reliability/test_log_hygiene.py."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from connectors.desk.accounts import SessionTokens, hash_password
from connectors.log_hygiene import HIDDEN, install_log_hygiene, redact
from connectors.storage.db import create_engine
from handoff.model import Agent, Role
from tests.reliability.support import every_log_record, leaked

SECRET = "unit-hygiene-secret-Rt5Yu8Io2P"
CUSTOMER_WORDS = "Ximena Tzintzuntzan escribió esto"


def test_configured_secrets_hashes_and_session_tokens_are_hidden_from_every_record(caplog) -> None:
    install_log_hygiene(SECRET, "", None, "short")  # empty and short values are ignored
    stored = hash_password("una-clave-de-prueba")
    token = SessionTokens("s" * 48).issue(Agent(7, "ana", "Ana", Role.AGENT), stored, datetime.now(timezone.utc)).token
    logger = logging.getLogger("tests.log_hygiene")
    caplog.set_level(logging.DEBUG, logger="tests.log_hygiene")
    with every_log_record() as records:
        logger.warning("calling with %s", {"Authorization": f"Bearer {SECRET}"})
        logger.debug("row %r", ("ana", stored))
        logger.info(f"session {token} refused")
        try:
            raise RuntimeError(f"could not verify {stored} for {SECRET}")
        except RuntimeError:
            logger.exception("login failed")
        logger.info("a short word stays")
    written = "\n".join([caplog.text, *records.lines])
    assert leaked(written, {SECRET, stored, stored.rsplit("$", 1)[1], token, token.rsplit(".", 1)[1]}) == []
    assert written.count(HIDDEN) >= 5 and "RuntimeError" in written and "a short word stays" in written


def test_redact_leaves_ordinary_text_alone() -> None:
    ordinary = "Attention 12 of customer 7441000000000001 (messenger) was opened by agent 3."
    assert redact(ordinary) == ordinary


async def test_the_database_logs_statements_but_neither_their_parameters_nor_rows(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)  # what `rasa run --debug` does to the root logger
    for name in ("sqlalchemy", "aiosqlite"):
        caplog.set_level(logging.DEBUG, logger=name)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'hygiene.db'}")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE note (body TEXT)"))
            await connection.execute(text("INSERT INTO note (body) VALUES (:body)"), {"body": CUSTOMER_WORDS})
            assert (await connection.execute(text("SELECT body FROM note"))).scalar_one() == CUSTOMER_WORDS
            # An exception's text is what our error logs print.
            with pytest.raises(sa_exc.OperationalError) as failed:
                await connection.execute(text("INSERT INTO missing (body) VALUES (:body)"), {"body": CUSTOMER_WORDS})
    finally:
        await engine.dispose()
    assert "SELECT body FROM note" in caplog.text  # the statements are still there to debug with
    assert "Tzintzuntzan" not in caplog.text and "Tzintzuntzan" not in str(failed.value)
