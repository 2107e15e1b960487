"""``python -m handoff.campaigns check [data/campaigns.yml]``: exit 0 when valid, 1 with
one line per mistake when not (for designers and CI)."""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from handoff.campaigns import DEFAULT_CAMPAIGNS_PATH, CampaignConfigError, load_campaigns


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handoff.campaigns", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate a campaigns file")
    check.add_argument("path", nargs="?", default=DEFAULT_CAMPAIGNS_PATH)
    arguments = parser.parse_args(argv)

    try:
        book = load_campaigns(arguments.path)
    except CampaignConfigError as problem:
        for error in problem.errors:
            print(error, file=sys.stderr)
        print(f"{len(problem.errors)} error(s)", file=sys.stderr)
        return 1
    print(f"{arguments.path}: OK ({len(book.campaigns)} campaigns, {len(book.rules)} routing rules, default '{book.default_campaign_id}')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
