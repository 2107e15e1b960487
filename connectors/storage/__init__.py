"""The handoff store: SQLAlchemy Core queries, one module per kind of record.

Functions take an ``AsyncConnection`` so that the service decides the transaction: an
operation that must be atomic (terminate: state + form + audit) runs its statements on one
connection inside ``engine.begin()``. The same code runs on SQLite and PostgreSQL; state
changes are conditional updates (compare-and-set), never read-modify-write.
"""
