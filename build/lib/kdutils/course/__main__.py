"""``python -m kdutils.course COMMAND``: the instructor's command line.

Each command lives in its own module of this package, which provides ``add_parser(sub)``
and ``run(args) -> int``; add a new command by adding its module to ``COMMANDS``.
"""
from __future__ import annotations

import argparse
import importlib
import sys

#: command name -> module of kdutils.course that implements it
COMMANDS = {
    "generate": "generate",
    "secret": "secret",
    "student-dist": "dist",
    "grade-demo": "demo",
    "autograde": "autograde",
    "extend": "late",
    "report": "report",
    "release-feedback": "feedback",
    "translate-status": "translate",
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kdutils.course",
                                     description="Course tooling around nbgrader for the KD assignments.")
    sub = parser.add_subparsers(dest="command", required=True)
    modules = {}
    for name, mod in COMMANDS.items():
        modules[name] = importlib.import_module(f"kdutils.course.{mod}")
        modules[name].add_parser(sub)
    args = parser.parse_args(argv)
    return modules[args.command].run(args)


if __name__ == "__main__":
    sys.exit(main())
