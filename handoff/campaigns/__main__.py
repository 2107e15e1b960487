"""``python -m handoff.campaigns check [data/campaigns.yml] [--domain domain.yml]``: exit 0
when valid, 1 with one line per mistake when not (for designers and CI). The slots,
entities and intents the file names are checked against the bot's domain."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from handoff.campaigns import DEFAULT_CAMPAIGNS_PATH, CampaignConfigError, load_campaigns
from handoff.campaigns.domain import default_domain_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handoff.campaigns", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate a campaigns file")
    check.add_argument("path", nargs="?", default=DEFAULT_CAMPAIGNS_PATH)
    check.add_argument("--domain", default=None, help="the bot's domain (default: $HANDOFF_DOMAIN, else ./domain.yml)")
    arguments = parser.parse_args(argv)

    try:
        book = load_campaigns(arguments.path, domain=arguments.domain or default_domain_path())
    except CampaignConfigError as problem:
        for error in problem.errors:
            print(error, file=sys.stderr)
        print(f"{len(problem.errors)} error(s)", file=sys.stderr)
        return 1
    counts = f"{len(book.campaigns)} campaigns, {len(book.rules)} routing rules"
    print(f"{arguments.path}: OK ({counts}, default '{book.default_campaign_id}')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
