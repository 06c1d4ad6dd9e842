"""``nbgrader export`` to a CSV that a learning platform imports: one row per student, and per
assignment the score, its maximum, the lateness, the penalty, the grading status and a column per
graded cell (question).

nbgrader's stock ``CsvExportPlugin`` writes one row per student and assignment with neither
lateness nor questions, and a written answer that still waits for its manual grade looks final.
Here the status column says ``needs manual grade`` for it, ``failed to grade`` when an
autograded cell has no score (the kernel died: see ``python -m kdutils.course report``), and
``no submission`` for a roster student who submitted nothing (score 0). Enable it with
``c.ExportApp.plugin_class = "kdutils.course.export.LMSExport"``; ``nbgrader export --to FILE``
chooses the file (default ``grades.csv``).

The file is UTF-8 with a byte-order mark, so that Excel shows ``Müller`` and ``王`` (without it Excel
reads the file in the system's code page); learning platforms and Python's ``utf-8-sig`` read it as
plain UTF-8. A submission that the LMS marked late without a time (Canvas ``_LATE``, recorded by
``zip_collect``: :mod:`kdutils.course.collect`) has ``late per LMS`` = ``yes`` and an empty ``hours
late``; its penalty is ``LatePenalty.lms_late_penalty`` of the maximum (0 unless the instructor sets it).
"""
from __future__ import annotations

import csv
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin

from .collect import current_marks

__all__ = ["LMSExport", "rows"]

ID_COLUMNS = ["student_id", "lms_user_id", "last_name", "first_name", "email"]


def _label(assignment: str, notebooks: int, notebook: str, cell: str) -> str:
    """``losses:written_t_squared``, or ``a:notebook:cell`` when an assignment has several notebooks."""
    return f"{assignment}:{cell}" if notebooks == 1 else f"{assignment}:{notebook}:{cell}"


def _questions(assignment) -> list[str]:
    n = len(assignment.notebooks)
    return [_label(assignment.name, n, nb.name, cell.name) for nb in assignment.notebooks for cell in nb.grade_cells]


def rows(gradebook: Gradebook, assignments: list[str] | None = None,
         students: list[str] | None = None, course: Path | None = None,
         lms_late_penalty: float = 0.0) -> tuple[list[str], list[dict]]:
    """The header and the rows of the export (also used by the tests).

    ``course``: the course directory, for the LMS's late marks (``lms/<assignment>.json``); ``lms_late_penalty``:
    the fraction of the maximum taken for such a mark.
    """
    chosen = [a for a in gradebook.assignments if not assignments or a.name in assignments]
    header = list(ID_COLUMNS)
    for a in chosen:
        header += [a.name, f"{a.name} max", f"{a.name} hours late", f"{a.name} late per LMS",
                   f"{a.name} late penalty", f"{a.name} status"] + _questions(a)
    marks = {a.name: (current_marks(course, a.name) if course is not None else {}) for a in chosen}
    out = []
    for s in gradebook.students:
        if students and s.id not in students:
            continue
        row = {"student_id": s.id, "lms_user_id": s.lms_user_id or "", "last_name": s.last_name or "",
               "first_name": s.first_name or "", "email": s.email or ""}
        for a in chosen:
            row[f"{a.name} max"] = f"{a.max_score:g}"
            try:
                sub = gradebook.find_submission(a.name, s.id)
            except MissingEntry:
                sub = None
            if sub is None or not sub.notebooks:
                row.update({a.name: "0", f"{a.name} hours late": "", f"{a.name} late per LMS": "",
                            f"{a.name} late penalty": "0", f"{a.name} status": "no submission"})
                row.update({q: "0" for q in _questions(a)})
                continue
            penalty = sub.late_submission_penalty or 0.0
            lms_late = marks[a.name].get(s.id, {}).get("late", False)
            hours = f"{sub.total_seconds_late / 3600:.2f}"
            if lms_late and sub.total_seconds_late <= 0:  # no time in the file name: the LMS mark is all there is
                hours = ""
                penalty = max(penalty, lms_late_penalty * sub.max_score)
            row[a.name] = f"{max(0.0, sub.score - penalty):g}"
            row[f"{a.name} hours late"] = hours
            row[f"{a.name} late per LMS"] = "yes" if lms_late else ""
            row[f"{a.name} late penalty"] = f"{penalty:g}"
            ungraded = [g for nb in sub.notebooks for g in nb.grades
                        if g.cell.cell_type == "code" and g.auto_score is None and g.manual_score is None]
            row[f"{a.name} status"] = ("failed to grade" if ungraded else
                                       "needs manual grade" if sub.needs_manual_grade else "graded")
            for nb in sub.notebooks:
                for g in nb.grades:
                    label = _label(a.name, len(a.notebooks), nb.name, g.name)
                    row[label] = "" if g.needs_manual_grade else f"{g.score:g}"
        out.append(row)
    return header, out


class LMSExport(ExportPlugin):
    """A wide CSV: per assignment score, max, hours late, penalty, status and one column per question."""

    def export(self, gradebook: Gradebook) -> None:
        from .late import policy_of

        dest = self.to or "grades.csv"
        coursedir = getattr(self.parent, "coursedir", None)
        course = Path(coursedir.root) if coursedir is not None else Path.cwd()
        policy = policy_of(self.parent.config if self.parent is not None else self.config)
        header, data = rows(gradebook, [str(a) for a in self.assignment], [str(s) for s in self.student],
                            course=course, lms_late_penalty=policy[1] if policy else 0.0)
        with open(dest, "w", newline="", encoding="utf-8-sig") as fh:
            writer = csv.DictWriter(fh, fieldnames=header, restval="")
            writer.writeheader()
            writer.writerows(data)
        self.log.info("Exported %d students to %s", len(data), dest)
