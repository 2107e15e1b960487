"""Part 2's servers under test: the four set-ups, their inboxes seeded for the replay, started side by side."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import load, servers, stores


@dataclass
class Config:
    key: str
    label: str
    webhook: str
    servers: list[servers.ServerProcess] = field(default_factory=list)
    note: str = ""

    @property
    def urls(self) -> list[str]:
        return [server.url + self.webhook for server in self.servers]

    def cpu_by_pid(self) -> dict[int, float]:
        return {pid: cpu for server in self.servers for pid, cpu in server.cpu_by_pid().items()}

    def log_text(self) -> str:
        return "".join(server.log_text() for server in self.servers)


async def seed_pending(ctx, database_url: str, graph_url: str, senders: Sequence[str]) -> None:
    """Leave acknowledged-but-unhandled items in an inbox, through the product itself: our
    webhook in a server whose dispatcher is off (``bench.ack_server --variant ack-only``)
    acknowledges them, and the server is stopped before anything handles them."""
    loop = asyncio.get_running_loop()
    server = await loop.run_in_executor(
        None,
        lambda: servers.python_server(
            "seed",
            "bench.ack_server",
            ["--kind", "ours", "--variant", "ack-only", "--graph-url", graph_url, "--database-url", database_url],
            servers.base_env(),
            ctx.logs,
            "/health",
        ),
    )
    try:
        async with load.new_session() as session:
            deliveries = load.text_deliveries(senders, per_delivery=len(senders), texts=("hola",))
            acks = await load.closed_loop(session, server.url + "/webhooks/messenger/webhook", deliveries, 1)
            if not all(ack.ok for ack in acks):
                raise RuntimeError(f"seeding the inbox failed: {[(a.status, a.error) for a in acks]}")
    finally:
        server.stop()


@dataclass
class Lineup:
    """The set-ups to measure, how to start each one's processes, and the customers seeded in their inboxes."""

    configs: list[Config] = field(default_factory=list)
    starts: dict[str, list[Callable[[], servers.ServerProcess]]] = field(default_factory=dict)
    replay_senders: dict[str, list[str]] = field(default_factory=dict)


async def line_up(ctx, stack: contextlib.AsyncExitStack, graph_url: str, replay_items: int, shared_ok: bool) -> Lineup:
    """The four set-ups (two when PostgreSQL or Redis is missing), each of our inboxes seeded
    before its server starts; the schemas and key prefixes last as long as ``stack``."""
    lineup = Lineup()
    configs, starts, replay_senders = lineup.configs, lineup.starts, lineup.replay_senders

    def rasa(
        name: str, env: dict[str, str], credentials: Path, endpoints: Path, ready: str
    ) -> Callable[[], servers.ServerProcess]:
        return lambda: servers.rasa_run(name, env, ctx.logs, credentials=credentials, endpoints=endpoints, ready_path=ready)

    configs.append(Config("builtin", "built-in facebook, 1 process", "/webhooks/facebook/webhook"))
    starts["builtin"] = [
        rasa(
            "bot-builtin",
            servers.facebook_env(graph_url),
            servers.BENCH / "credentials-facebook.yml",
            servers.ROOT / "endpoints.yml",
            "/webhooks/facebook/",
        )
    ]
    ours_credentials, messenger = servers.ROOT / "credentials.yml", "/webhooks/messenger/"
    sqlite_url = f"sqlite+aiosqlite:///{ctx.work / 'bot-ours.db'}"
    configs.append(Config("ours1", "ours, 1 process", messenger + "webhook"))
    starts["ours1"] = [
        rasa("bot-ours1", servers.product_env(graph_url, sqlite_url), ours_credentials, servers.ROOT / "endpoints.yml", messenger)
    ]
    replay_senders["ours1"] = load.sender_ids("replay1", replay_items)
    await seed_pending(ctx, sqlite_url, graph_url, replay_senders["ours1"])
    if shared_ok:
        for key, label in (("ours2w", "ours, SANIC_WORKERS=2"), ("ours2i", "ours, 2 instances, round-robin")):
            postgres_url = await stack.enter_async_context(stores.postgres_schema())
            redis = await stack.enter_async_context(stores.redis_namespace())
            # Seeding also migrates the fresh schema before the servers start (see the
            # note on concurrent migrations in the section).
            replay_senders[key] = load.sender_ids(f"replay{key}", replay_items)
            await seed_pending(ctx, postgres_url, graph_url, replay_senders[key])
            configs.append(Config(key, label + " (Redis lock + tracker stores, PostgreSQL)", messenger + "webhook"))
            endpoints = servers.BENCH / "endpoints-redis.yml"
            if key == "ours2w":
                env = servers.product_env(graph_url, postgres_url, SANIC_WORKERS="2", **redis.env())
                starts[key] = [rasa(f"bot-{key}", env, ours_credentials, endpoints, messenger)]
            else:
                env = servers.product_env(graph_url, postgres_url, **redis.env())
                starts[key] = [rasa(f"bot-{key}-{n}", env, ours_credentials, endpoints, messenger) for n in (1, 2)]
    return lineup


async def start_side_by_side(lineup: Lineup) -> dict[str, float]:
    """Every process at once; each config keeps the servers that came up (so they are
    stopped even when another failed). Returns the seconds each config took to answer."""
    from bench.runner import log

    configs, starts = lineup.configs, lineup.starts
    loop = asyncio.get_running_loop()
    startup: dict[str, float] = {}
    jobs = [(config, loop.run_in_executor(None, start)) for config in configs for start in starts[config.key]]
    results = await asyncio.gather(*(job for _, job in jobs), return_exceptions=True)
    for (config, _), result in zip(jobs, results, strict=True):
        if isinstance(result, servers.ServerProcess):
            config.servers.append(result)
    for (_config, _), result in zip(jobs, results, strict=True):
        if isinstance(result, BaseException):
            raise result
    for config in configs:
        startup[config.key] = max(server.ready_after or 0.0 for server in config.servers)
        processes = sum(len(server.pids()) for server in config.servers)
        log(f"  {config.key} ready after {startup[config.key]:.0f} s ({processes} processes)")
    ours2w = next((c for c in configs if c.key == "ours2w"), None)
    if ours2w is not None:
        ours2w.note = f"{len(ours2w.servers[0].pids()) - 1} Sanic worker processes under one parent"
    return startup
