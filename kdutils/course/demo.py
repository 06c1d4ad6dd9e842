"""``make grade-demo``: autograde the bundled demo class in a temporary course and print the scores.

The demo class is built from ``kdutils.course.catalogue``: a dozen submissions made by
replacing solution cells of the source notebooks (complete, partial, buggy, tampered).
A smaller Chinese class (issue 17) submits the same code to the Chinese releases ``losses_zh`` and
``training_zh``: the same scores, with the diagnoses in Chinese.
"""
from __future__ import annotations

import html
import re
import tempfile
import time
from pathlib import Path

from .core import ASSIGNMENTS, make_course, nbgrader, read_scores

__all__ = ["grade_demo"]


def grade_demo(keep: Path | None = None) -> int:
    """Copy the demo class into a temporary course, generate, autograde, give feedback, print the scores."""
    from . import catalogue  # the grader and torch: only when the demo runs (nbgrader imports this package)

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
        _chinese_class(course, scores)
        feedback = sorted(p.relative_to(course) for p in (course / "feedback").rglob("*.html"))
        print(f"\n{len(feedback)} feedback files, e.g. {feedback[0] if feedback else '-'}")
        print(f"total time: {time.perf_counter() - t0:.1f} s (autograded cells only; written answers are graded by hand)")
    return 0



#: The Chinese demo class: these catalogue students submit the same code to losses_zh / training_zh.
ZH_DEMO = {"losses": ("solution", "bug_a", "bug_b", "tamper_objects"), "training": ("solution", "bug_b")}


def _chinese_class(course: Path, english: dict) -> None:
    """Generate, autograde and give feedback for the Chinese class; print its scores beside the English ones."""
    from . import catalogue

    print("\nChinese class (中文版作业 losses_zh, training_zh): the same code as above")
    for a, students in ZH_DEMO.items():
        zh = f"{a}_zh"
        nbgrader("generate_assignment", zh, "--force", cwd=course)
        for sub in catalogue.catalogue():
            if sub.assignment == a and sub.student in students:
                catalogue.write(catalogue.in_language(sub, "zh"), course)
        t = time.perf_counter()
        nbgrader("autograde", zh, "--force", cwd=course)
        print(f"autograde {zh}: {time.perf_counter() - t:.1f} s")
        nbgrader("generate_feedback", zh, "--force", cwd=course)
        scores, maximum = read_scores(course, zh), catalogue.max_points(course, zh)
        for s in students:
            en, got = sum(english[a].get(s, {}).values()), sum(scores.get(s, {}).values())
            print(f"  {s:<16}{zh:>12} {got:g}/{maximum:g}   (English {en:g}/{maximum:g})")
    page = course / "feedback" / "bug_b" / "losses_zh" / "losses_zh.html"
    if page.exists():
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf8")))
        line = next((l.strip() for l in text.splitlines() if "AssertionError" in l and "温度" in l), None)
        if line:
            print(f"  e.g. bug_b's feedback (losses_zh): {line}")


def add_parser(sub) -> None:
    demo = sub.add_parser("grade-demo", help="autograde the bundled demo class in a temporary course")
    demo.add_argument("--keep", type=Path, default=None, help="grade in this directory and keep it")
    demo.add_argument("--course", type=Path, default=None,
                      help="take the assignments' sources from this course directory (default: the repository "
                           "checkout; required when kdutils is installed from the wheel)")


def run(args) -> int:
    from .core import source_course, use_course

    if args.course is not None:
        use_course(args.course)
    source_course()  # a clear error before any work when there is neither a checkout nor --course
    return grade_demo(args.keep)
