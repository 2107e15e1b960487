"""Customer rows: who is behind a PSID / IGSID, kept fresh from handoffs and profiles."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from connectors.storage._sql import RowsOn, upsert_insert
from connectors.storage.rows import customer_from_row
from connectors.storage.schema import attention, customer
from handoff.model import Channel, Customer
from handoff.pictures import picture_expiry
from handoff.records import CustomerKey


class CustomerRows(RowsOn):
    """The customer rows of one unit of work (``handoff.records.CustomerRecords``)."""

    async def upsert(
        self,
        channel: Channel,
        account_id: str,
        customer_id: str,
        now: datetime,
        name: str | None = None,
        picture_url: str | None = None,
    ) -> None:
        """Create the customer, or refresh what we now know (a missing name keeps the old one,
        a new picture link replaces the old one together with its expiry)."""
        expires = picture_expiry(picture_url, now)
        picture_url = picture_url if expires is not None else None
        statement = upsert_insert(self._connection, customer).values(
            channel=Channel(channel).value,
            account_id=account_id,
            customer_id=customer_id,
            name=name,
            picture_url=picture_url,
            picture_expires_at=expires,
            created_at=now,
            updated_at=now,
        )
        fresh_picture = statement.excluded.picture_url.is_not(None)
        statement = statement.on_conflict_do_update(
            index_elements=["channel", "account_id", "customer_id"],
            set_={
                "name": sa.func.coalesce(statement.excluded.name, customer.c.name),
                "picture_url": sa.case((fresh_picture, statement.excluded.picture_url), else_=customer.c.picture_url),
                "picture_expires_at": sa.case(
                    (fresh_picture, statement.excluded.picture_expires_at), else_=customer.c.picture_expires_at
                ),
                "updated_at": statement.excluded.updated_at,
            },
        )
        await self._connection.execute(statement)

    async def get(self, channel: Channel, account_id: str, customer_id: str) -> Customer | None:
        query = sa.select(customer).where(
            customer.c.channel == Channel(channel).value,
            customer.c.account_id == account_id,
            customer.c.customer_id == customer_id,
        )
        row = (await self._connection.execute(query)).first()
        return customer_from_row(row) if row else None

    async def of_attentions(self, attention_ids: Iterable[int]) -> dict[CustomerKey, Customer]:
        ids = list(attention_ids)
        if not ids:
            return {}
        query = (
            sa.select(customer)
            .join(
                attention,
                sa.and_(
                    attention.c.channel == customer.c.channel,
                    attention.c.account_id == customer.c.account_id,
                    attention.c.customer_id == customer.c.customer_id,
                ),
            )
            .where(attention.c.id.in_(ids))
        )
        rows = (await self._connection.execute(query)).all()
        return {(row.channel, row.account_id, row.customer_id): customer_from_row(row) for row in rows}
