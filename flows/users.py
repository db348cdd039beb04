"""`python -m flows users add NAME --users FILE`: a user of the web app and API, and their token (printed once)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a user; prints their new token once, alone on the last line")
    add.add_argument("name", metavar="NAME", help="letters, digits, . _ - (their jobs' folder name)")
    add.add_argument("--users", required=True, help="the users file (created if absent)")
    add.add_argument("--replace", action="store_true", help="give an existing user a new token (ends the old one)")
    listing = actions.add_parser("list", help="the users' names")
    listing.add_argument("--users", required=True)


def users(args: argparse.Namespace) -> int:
    from web.users import add_user, read_users

    path = Path(args.users)
    if args.action == "list":
        for name in sorted(read_users(path)):
            print(name)
        return 0
    token = add_user(path, args.name, replace=args.replace)
    print(f"user {args.name!r} {'has a new token' if args.replace else 'added'} in {path}; "
          "their token (shown only now; the file keeps its hash):")
    print(token)
    return 0
