"""``python -m kdutils.course COMMAND``: the instructor's command line.

Each command lives in its own module of this package, which provides ``add_parser(sub)``
and ``run(args) -> int``; add a new command by adding its module and one-line help to ``COMMANDS``.
Only the chosen command's module is imported (``--help`` lists the commands from ``COMMANDS`` alone),
so ``python -m kdutils.course --help`` does not pay for nbgrader or torch.
"""
from __future__ import annotations

import argparse
import importlib
import sys

#: command name -> (module of kdutils.course that implements it, one-line help)
COMMANDS = {
    "generate": ("generate", "regenerate exercises/ from solutions/"),
    "secret": ("secret", "write the course secret the hidden tests' cases derive from (once per course)"),
    "student-dist": ("dist", "dist/kd-student.zip: released notebooks and the kdutils wheel, no answers"),
    "grade-demo": ("demo", "autograde the bundled demo class in a temporary course"),
    "autograde": ("autograde", "autograde many students in parallel (stock nbgrader per student)"),
    "extend": ("late", "give a student an extension on an assignment's due date"),
    "report": ("report", "list failed, pending, missing and late submissions of an assignment"),
    "release-feedback": ("feedback", "release feedback via the exchange, or zip it for zip-collected students"),
    "translate-status": ("translate", "list the Chinese translations that are missing or stale"),
}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m kdutils.course",
                                     description="Course tooling around nbgrader for the KD assignments.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    module = None
    for name, (mod, help) in COMMANDS.items():
        if name == chosen:
            module = importlib.import_module(f"kdutils.course.{mod}")
            module.add_parser(sub)
        else:
            sub.add_parser(name, help=help)  # listed in --help; its options are read only when it is chosen
    args = parser.parse_args(argv)
    if chosen == "autograde" and getattr(args, "db_url", None):
        # issue 23 §3: a shared database into which the roster or the due dates were never imported loses grades
        from .core import gradebook_problems

        missing = gradebook_problems(args.db_url, args.assignment)
        if missing:
            print("error: the gradebook --db-url is not ready to grade " + repr(args.assignment) + ":\n  "
                  + "\n  ".join(missing), file=sys.stderr)
            return 2
    return module.run(args)


if __name__ == "__main__":
    sys.exit(main())
