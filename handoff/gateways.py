"""One gateway for the service, many channels: each connector registers its own."""

from __future__ import annotations

from handoff.model import Channel
from handoff.ports import ChannelGateway, DeliveryFailed, DeliveryReceipt, OutboundMessage


class ChannelGateways:
    def __init__(self) -> None:
        self._by_channel: dict[Channel, ChannelGateway] = {}

    def register(self, channel: Channel | str, gateway: ChannelGateway) -> None:
        self._by_channel[Channel(channel)] = gateway

    async def send(self, outbound: OutboundMessage) -> DeliveryReceipt:
        gateway = self._by_channel.get(Channel(outbound.channel))
        if gateway is None:
            raise DeliveryFailed(None, None, f"the {Channel(outbound.channel).value} channel is not configured")
        return await gateway.send(outbound)
