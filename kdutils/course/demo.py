"""``make grade-demo``: autograde the bundled demo class in a temporary course and print the scores.

The demo class is built from ``kdutils.course.catalogue``: a dozen submissions made by
replacing solution cells of the source notebooks (complete, partial, buggy, tampered).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from . import catalogue
from .core import ASSIGNMENTS, make_course, nbgrader, read_scores

__all__ = ["grade_demo"]


def grade_demo(keep: Path | None = None) -> int:
    """Copy the demo class into a temporary course, generate, autograde, give feedback, print the scores."""
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kd-grade-demo-") as tmp:
        course = make_course(Path(keep) if keep else Path(tmp))
        for a in ASSIGNMENTS:
            nbgrader("generate_assignment", a, "--force", cwd=course)
        students = catalogue.write_demo_class(course)
        print(f"demo class: {len(students)} students in {course}")
        for a in ASSIGNMENTS:
            t = time.perf_counter()
            nbgrader("autograde", a, "--force", cwd=course)
            print(f"autograde {a}: {time.perf_counter() - t:.1f} s")
            nbgrader("generate_feedback", a, "--force", cwd=course)
        scores = {a: read_scores(course, a) for a in ASSIGNMENTS}
        maxima = {a: catalogue.max_points(course, a) for a in ASSIGNMENTS}
        width = max(len(s) for s in students) + 2
        print(f"\n{'student':<{width}}{'losses':>10}{'training':>10}  description")
        for s, desc in students.items():
            cols = []
            for a in ASSIGNMENTS:
                got = scores[a].get(s)
                cols.append(f"{sum(got.values()):g}/{maxima[a]:g}" if got else "-")
            print(f"{s:<{width}}{cols[0]:>10}{cols[1]:>10}  {desc}")
        feedback = sorted(p.relative_to(course) for p in (course / "feedback").rglob("*.html"))
        print(f"\n{len(feedback)} feedback files, e.g. {feedback[0] if feedback else '-'}")
        print(f"total time: {time.perf_counter() - t0:.1f} s (autograded cells only; written answers are graded by hand)")
    return 0



def add_parser(sub) -> None:
    demo = sub.add_parser("grade-demo", help="autograde the bundled demo class in a temporary course")
    demo.add_argument("--keep", type=Path, default=None, help="grade in this directory and keep it")


def run(args) -> int:
    return grade_demo(args.keep)
