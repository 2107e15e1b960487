"""Operators' numbers from the environment: a typo stops the server with the variable named."""

import pytest

from connectors.environment import seconds_from_environment
from connectors.meta.leases import LEASE_VARIABLE, LeaseTiming


def test_unset_or_empty_is_the_default(monkeypatch):
    monkeypatch.delenv("HANDOFF_TEST_SECONDS", raising=False)
    assert seconds_from_environment("HANDOFF_TEST_SECONDS", 15.0) == 15.0
    monkeypatch.setenv("HANDOFF_TEST_SECONDS", " ")
    assert seconds_from_environment("HANDOFF_TEST_SECONDS", 15.0) == 15.0


def test_a_number_is_taken(monkeypatch):
    monkeypatch.setenv("HANDOFF_TEST_SECONDS", "0.25")
    assert seconds_from_environment("HANDOFF_TEST_SECONDS", 15.0) == 0.25


@pytest.mark.parametrize("raw", ["soon", "0", "-3", "inf", "nan"])
def test_a_wrong_value_names_the_variable(monkeypatch, raw):
    monkeypatch.setenv("HANDOFF_TEST_SECONDS", raw)
    with pytest.raises(ValueError, match="HANDOFF_TEST_SECONDS"):
        seconds_from_environment("HANDOFF_TEST_SECONDS", 15.0)


def test_the_inbox_lease_reads_it(monkeypatch):
    monkeypatch.setenv(LEASE_VARIABLE, "12")
    timing = LeaseTiming.from_environment()
    assert (timing.lease, timing.renew_every, timing.claim_every) == (12.0, 3.0, 4.0)
    monkeypatch.setenv(LEASE_VARIABLE, "-1")
    with pytest.raises(ValueError, match=LEASE_VARIABLE):
        LeaseTiming.from_environment()
