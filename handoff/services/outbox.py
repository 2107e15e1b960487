"""The outbox: an agent's message is checked against Meta's window, stored as pending,
sent through the gateway, then marked sent or failed; the sweep finishes what a stopped
server left pending."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from handoff import permissions
from handoff.clock import as_utc
from handoff.error_codes import ErrorCode
from handoff.errors import Conflict, InvalidMessage, NotFound, WindowClosed
from handoff.events import MessageAdded, MessageUpdated
from handoff.model import Agent, Attention, Author, Channel, Message, MessageDirection, MessageKind, MessageStatus
from handoff.ports import OUTGOING_ATTACHMENT_TYPES, DeliveryFailed, OutboundMessage, OutgoingAttachment, send_key
from handoff.records import StorageBusy
from handoff.services.shared import ServiceContext, human_agent_tag, load_attention, read_attention
from handoff.states import AttentionState
from handoff.text_limits import TEXT_LIMITS
from handoff.window import SendPolicy, send_policy

logger = logging.getLogger(__name__)

# An outbound message pending this long is not being sent by anyone: the process that was
# sending it died. Longer than any live send can take (GraphClient's defaults: 4 attempts of
# at most 10 s plus a 3 s echo wait each, and at most 35 s of backoff: under 90 s). A
# deployment that raises graph_timeout or retry_attempts must raise this too.
DEFAULT_OUTBOX_STALE_AFTER = timedelta(seconds=120)
OUTBOX_SWEEP_BATCH = 100

# On the pending row while the sweep sends it again: the next sweep must not resend it twice.
RESENT_AFTER_INTERRUPTION = "sent again: the server stopped while sending it"
# A message the server stopped on before handing it to Meta (no send_token): Meta never had it.
NEVER_SENT = "interrupted: the server stopped before sending this message; Meta never got it"
# A message the server stopped on while Meta had it (send_token, no answer, no echo): status
# unknown, never sent again by itself; its echo, whenever it comes, makes it sent.
INTERRUPTED = "interrupted: the server stopped while sending this message; not known whether Meta got it"


def _check_content(channel: Channel, text: str | None, attachment: OutgoingAttachment | None) -> str | None:
    text = text.strip() if text else None
    if not text and attachment is None:
        raise InvalidMessage("a message needs a text or an attachment", code=ErrorCode.MESSAGE_EMPTY)
    limit = TEXT_LIMITS[channel]
    if text and limit.size(text) > limit.max:
        words = "characters" if limit.unit == "chars" else "bytes"
        raise InvalidMessage(
            f"{channel.value.capitalize()} texts are limited to {limit.max} {words} (this has {limit.size(text)})",
            code=ErrorCode.MESSAGE_TOO_LONG,
            limit=limit.max,
            length=limit.size(text),
            unit=limit.unit,
        )
    if attachment is not None and attachment.type not in OUTGOING_ATTACHMENT_TYPES:
        raise InvalidMessage(
            f"unknown attachment type {attachment.type!r} (use {', '.join(sorted(OUTGOING_ATTACHMENT_TYPES))})",
            code=ErrorCode.ATTACHMENT_TYPE,
            allowed=", ".join(sorted(OUTGOING_ATTACHMENT_TYPES)),
        )
    return text


def _require_writable(current: Attention, agent: Agent) -> None:
    """Only its agent writes in an attention, and only while it is open."""
    permissions.require_owner(agent, current)
    if current.state is not AttentionState.OPEN:
        raise Conflict(
            current.id, "messages can be sent only in an open attention", current.state.value, code=ErrorCode.ATTENTION_NOT_OPEN
        )


def _attachment_of(stored: Message) -> OutgoingAttachment | None:
    raw = stored.payload.get("attachment")
    return OutgoingAttachment(**raw) if isinstance(raw, Mapping) else None


class Outbox:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context
        # Messages this process is sending right now: the outbox sweep never takes them,
        # however slow Meta is.
        self._sending: set[int] = set()

    async def _updated(self, current: Attention, message: Message, now: datetime) -> None:
        await self._context.publish(
            MessageUpdated(
                at=now, attention_id=current.id, campaign_id=current.campaign_id, agent_id=current.agent_id, message=message
            )
        )

    async def send_agent_message(
        self, attention_id: int, agent: Agent, text: str | None = None, attachment: OutgoingAttachment | None = None
    ) -> Message:
        """Send the owner's message: checked against Meta's window BEFORE anything is stored
        (WindowClosed), stored as pending (the outbox), sent through the gateway, then
        marked sent (with Meta's mid) or failed (with Meta's error). Returns the message as
        it ends up; a failure is a failed message, not an exception."""
        current = await load_attention(self._context, attention_id)
        _require_writable(current, agent)
        text = _check_content(current.channel, text, attachment)
        return await self._store_and_deliver(current, agent, text, attachment)

    async def send_agent_attachment(
        self, attention_id: int, agent: Agent, attachment: OutgoingAttachment, caption: str | None = None
    ) -> list[Message]:
        """An attachment with its caption. Meta carries no caption on an attachment, so the
        caption is a text message of its own, sent right after it (the customer sees them in
        that order, and so does the desk). Both are checked against the channel's limits
        before either is stored: a caption too long refuses the pair, nothing is cut. When
        Meta refuses the attachment the caption is not sent (alone it would make no sense);
        the answer then holds the failed attachment only."""
        current = await load_attention(self._context, attention_id)
        _require_writable(current, agent)
        caption = _check_content(current.channel, caption, None) if caption and caption.strip() else None
        _check_content(current.channel, None, attachment)
        sent = [await self._store_and_deliver(current, agent, None, attachment)]
        if caption and sent[0].status is not MessageStatus.FAILED:
            sent.append(await self._store_and_deliver(current, agent, caption, None))
        return sent

    async def _store_and_deliver(
        self, current: Attention, agent: Agent, text: str | None, attachment: OutgoingAttachment | None
    ) -> Message:
        """Checked content of ``current``'s agent: stored as pending within Meta's window,
        published, then sent (see send_agent_message)."""
        now = self._context.now()
        policy = send_policy(now, current.last_customer_message_at, human_agent_tag(self._context, current), current.id)
        payload: dict[str, Any] = {}
        if attachment is not None:
            payload["attachment"] = dataclasses.asdict(attachment)
        async with self._context.storage.write() as records:
            stored = await records.messages.insert(
                attention_id=current.id,
                direction=MessageDirection.OUT,
                author=Author.AGENT,
                kind=MessageKind.ATTACHMENT if attachment is not None else MessageKind.TEXT,
                status=MessageStatus.PENDING,
                now=now,
                text=text,
                payload=payload,
                agent_id=agent.id,
                agent_name=agent.display_name,
                messaging_type=policy.messaging_type,
                tag=policy.tag,
            )
            # Still open and still ours, or nothing is stored (the insert rolls back).
            still_ours = await records.attentions.compare_and_set(
                current.id,
                expected_state=AttentionState.OPEN,
                expected_agent_id=agent.id,
                values={"last_message_id": stored.id, "updated_at": now},
            )
            if not still_ours:
                raise Conflict(current.id, "it changed while you were writing")
        await self._context.publish(
            MessageAdded(at=now, attention_id=current.id, campaign_id=current.campaign_id, agent_id=agent.id, message=stored)
        )
        return await self._deliver(current, stored, text, attachment, policy.messaging_type, policy.tag)

    async def retry(self, message_id: int, agent: Agent) -> Message:
        """Send a failed message again (the desk's retry), re-checking the window."""
        async with self._context.storage.read() as records:
            failed = await records.messages.get(message_id)
            if failed is None:
                raise NotFound("message", message_id)
            current = await read_attention(records, failed.attention_id)
        _require_writable(current, agent)
        if failed.direction is not MessageDirection.OUT or failed.status not in (MessageStatus.FAILED, MessageStatus.UNKNOWN):
            # UNKNOWN too: the agent, told that Meta may have it, decides to send it again.
            raise InvalidMessage(
                f"message {message_id} has not failed; there is nothing to retry", code=ErrorCode.MESSAGE_NOT_FAILED
            )
        now = self._context.now
        policy = send_policy(now(), current.last_customer_message_at, human_agent_tag(self._context, current), current.id)
        async with self._context.storage.write() as records:
            if not await records.messages.mark_pending(message_id, policy.messaging_type, policy.tag, now()):
                raise Conflict(current.id, f"message {message_id} is already being retried", code=ErrorCode.MESSAGE_RETRYING)
        return await self._deliver(current, failed, failed.text, _attachment_of(failed), policy.messaging_type, policy.tag)

    async def _deliver(
        self,
        current: Attention,
        stored: Message,
        text: str | None,
        attachment: OutgoingAttachment | None,
        messaging_type: str,
        tag: str | None,
    ) -> Message:
        outbound = OutboundMessage(
            message_id=stored.id,
            attention_id=current.id,
            channel=current.channel,
            account_id=current.account_id,
            customer_id=current.customer_id,
            messaging_type=messaging_type,
            tag=tag,
            text=text,
            attachment=attachment,
        )
        self._sending.add(stored.id)
        try:
            return await self._send_and_record(current, stored, outbound)
        finally:
            self._sending.discard(stored.id)

    async def _send_and_record(self, current: Attention, stored: Message, outbound: OutboundMessage) -> Message:
        """Send, in the order that lets a crash leave nothing to guess: the attempt's key is
        committed on the message (``send_token``), then the gateway sends it in Meta's
        metadata, then Meta's answer (the mid) is committed. A crash before the first commit
        leaves a message Meta never had (the sweep sends it); between the first and the last,
        one Meta may have (its echo makes it sent; without one the sweep says unknown)."""
        key = send_key(stored.id)
        try:
            async with self._context.storage.write() as records:
                handed = await records.messages.mark_sending(stored.id, key, self._context.now())
        except StorageBusy as busy:
            # The message is stored (the desk shows it) and certainly not at Meta: it stays
            # pending for the outbox sweep. Answering an error here would tell the agent it
            # was not sent, inviting a second copy.
            logger.warning(
                "Message %s stays pending for the outbox sweep: the database was busy (%s).", stored.id, type(busy).__name__
            )
            return stored
        if not handed:  # not pending any more (an echo or another process was faster)
            async with self._context.storage.read() as records:
                now_there = await records.messages.get(stored.id)
            assert now_there is not None
            return now_there
        outbound = dataclasses.replace(outbound, send_token=key)
        try:
            receipt = await self._context.gateway.send(outbound)
        except DeliveryFailed as failure:
            return await self._record_failure(current, stored.id, failure)
        except Exception as error:  # a bug in a gateway must not leave the message pending forever
            logger.exception("channel gateway failed on message %s", stored.id)
            broken = DeliveryFailed(None, None, str(error) or type(error).__name__, transient=True)
            return await self._record_failure(current, stored.id, broken)
        now = self._context.now()
        try:
            async with self._context.storage.write() as records:
                sent_at = as_utc(receipt.sent_at) if receipt.sent_at else now
                await records.messages.mark_sent(stored.id, receipt.mid, sent_at, now)
                sent = await records.messages.get(stored.id)
        except StorageBusy as busy:
            # Meta has it; its echo (carrying send_token) makes it sent, and no sweep sends a
            # message with a token again. Pending meanwhile, never an error: it went out.
            logger.warning(
                "Message %s went to Meta; recording that waits for its echo: the database was busy (%s).",
                stored.id,
                type(busy).__name__,
            )
            return stored
        assert sent is not None
        await self._updated(current, sent, now)
        return sent

    async def _record_failure(self, current: Attention, message_id: int, failure: DeliveryFailed) -> Message:
        now = self._context.now()
        async with self._context.storage.write() as records:
            await records.messages.mark_failed(message_id, failure.code, failure.subcode, failure.message, now)
            failed = await records.messages.get(message_id)
        assert failed is not None
        await self._updated(current, failed, now)
        return failed

    # -- after a crash ------------------------------------------------------------------

    async def recover(self, stale_after: timedelta = DEFAULT_OUTBOX_STALE_AFTER, now: datetime | None = None) -> list[Message]:
        """Finish the agent messages a dead process left ``pending``. Returns them as they
        ended. Run it periodically; safe on several instances (a message is claimed by one
        sweep only) and never takes a message this process is still sending.

        Meta's Send API has no idempotency key, so what a crash left is decided by how far
        the send got (``_send_and_record`` commits the attempt's key, ``send_token``, before
        the call, and Meta's mid right after it):

        - no ``send_token``: the process died before handing it to Meta, which never had
          it. Sent now (same message id, so its echo finds it), once: if that attempt is
          cut short before Meta too, it fails (a message that kills the process on every
          send would otherwise do so at every start). A message whose attention has
          ended, or whose window Meta has closed, fails with that reason.
        - ``send_token``, still pending ``stale_after`` (default 120 s) after the attempt:
          Meta may have it, and only its echo (the key rides in the metadata) can tell.
          An echo marks it sent whenever it arrives (``receipts.record_echo``: from the
          inbox's replay, or Meta's redelivery once the server is back), before or after
          this sweep. Without one it becomes ``unknown`` ("not known whether Meta got it"),
          never sent again by itself; the agent may retry it, knowing that.
        """
        now = as_utc(now) if now else self._context.now()
        stale_before = now - stale_after
        async with self._context.storage.read() as records:
            stale = await records.messages.stale_outbound(stale_before, OUTBOX_SWEEP_BATCH)
        recovered: list[Message] = []
        # One by one, in order: a customer gets their messages in the order agents wrote them.
        for pending in stale:
            if pending.id in self._sending:
                continue
            ended = await self._recover(pending, stale_before, now)
            if ended is not None:
                recovered.append(ended)
        return recovered

    async def _recover(self, pending: Message, stale_before: datetime, now: datetime) -> Message | None:
        uncertain: Message | None = None
        async with self._context.storage.write() as records:
            current = await read_attention(records, pending.attention_id)
            reason, policy = self._resend_decision(current, pending, now)
            if await records.messages.claim_uncertain(pending.id, stale_before, INTERRUPTED, now):
                # Handed to Meta and no echo since: Meta may have it. Never sent again here.
                uncertain = await records.messages.get(pending.id)
                claimed = False
            else:
                claimed = await records.messages.claim_stale(
                    pending.id,
                    stale_before,
                    reason or RESENT_AFTER_INTERRUPTION,
                    now,
                    messaging_type=policy.messaging_type if policy else None,
                    tag=policy.tag if policy else None,
                )
        if uncertain is not None:
            logger.warning(
                "Message %s was being sent when a server stopped and no echo came: status unknown, not sent again.", pending.id
            )
            await self._updated(current, uncertain, now)
            return uncertain
        if not claimed:
            return None  # another instance took it, or its echo came in the meantime
        if reason is not None or policy is None:
            logger.warning("Message %s was left pending by a stopped server: failed (%s).", pending.id, reason)
            return await self._record_failure(current, pending.id, DeliveryFailed(None, None, reason or NEVER_SENT))
        logger.info("Message %s was left pending by a stopped server: sending it again.", pending.id)
        return await self._deliver(current, pending, pending.text, _attachment_of(pending), policy.messaging_type, policy.tag)

    def _resend_decision(self, current: Attention, pending: Message, now: datetime) -> tuple[str | None, SendPolicy | None]:
        """(why it must fail, None) or (None, how to send it now)."""
        if pending.error_message == RESENT_AFTER_INTERRUPTION:
            return f"{NEVER_SENT}, also when it was tried again after an earlier stop; not tried a third time", None
        # A queued attention is still a human conversation (returned or released while the
        # server was down): whoever opens it next sees the message in its place.
        if current.state is AttentionState.TERMINATED:
            return f"{NEVER_SENT}; not sent because the attention has ended", None
        try:
            return None, send_policy(now, current.last_customer_message_at, human_agent_tag(self._context, current), current.id)
        except WindowClosed as closed:
            return f"{NEVER_SENT}; not sent because {closed.reason}", None
