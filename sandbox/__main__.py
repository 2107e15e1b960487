"""`python -m sandbox`: run the local Meta sandbox (fake Graph API + customer phone page)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from .app import SandboxConfig, SandboxServer


def parse_args(argv: list[str] | None = None) -> SandboxConfig:
    """CLI arguments, each defaulting to its environment variable (see SandboxConfig.from_env)."""
    env = SandboxConfig.from_env()
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default=env.host, help="bind address [SANDBOX_HOST, 127.0.0.1]")
    parser.add_argument("--port", type=int, default=env.port, help="port [SANDBOX_PORT, 5100]")
    parser.add_argument("--rasa-url", default=env.rasa_url, help="where webhooks go [SANDBOX_RASA_URL, http://127.0.0.1:5005]")
    parser.add_argument(
        "--public-url", default=env.public_url, help="base URL given out for media [SANDBOX_PUBLIC_URL, http://HOST:PORT]"
    )
    parser.add_argument("--app-secret", default=env.app_secret, help="signs Messenger webhooks [META_APP_SECRET]")
    parser.add_argument(
        "--instagram-app-secret",
        default=env.instagram_app_secret,
        help="signs Instagram webhooks [INSTAGRAM_APP_SECRET, = app secret]",
    )
    parser.add_argument(
        "--messenger-token", default=env.messenger_token, help="accepted Page token [MESSENGER_PAGE_ACCESS_TOKEN]"
    )
    parser.add_argument(
        "--instagram-token", default=env.instagram_token, help="accepted Instagram token [INSTAGRAM_ACCESS_TOKEN]"
    )
    parser.add_argument("--app-id", default=env.app_id, help="our app id in echoes [META_APP_ID]")
    parser.add_argument("--page-id", default=env.page_id, help="Facebook Page id [MESSENGER_PAGE_ID]")
    parser.add_argument(
        "--ig-account-id", default=env.ig_account_id, help="Instagram professional account id [INSTAGRAM_ACCOUNT_ID]"
    )
    parser.add_argument("--page-name", default=env.page_name, help="business name shown on the phone")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return SandboxConfig(
        host=args.host,
        port=args.port,
        rasa_url=args.rasa_url,
        public_url=args.public_url,
        app_secret=args.app_secret,
        instagram_app_secret=args.instagram_app_secret or args.app_secret,
        messenger_token=args.messenger_token,
        instagram_token=args.instagram_token,
        app_id=args.app_id,
        page_id=args.page_id,
        ig_account_id=args.ig_account_id,
        page_name=args.page_name,
    )


async def serve(config: SandboxConfig) -> None:
    """Run until SIGINT/SIGTERM."""
    server = await SandboxServer(config).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # pragma: no cover (Windows)
            loop.add_signal_handler(sig, stop.set)
    print(
        f"Sandbox Meta local: {server.url}/  (Graph API: {server.url}/v21.0/..., webhooks -> "
        f"{config.rasa_url}/webhooks/{{messenger,instagram}}/webhook)",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    asyncio.run(serve(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
