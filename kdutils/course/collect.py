"""``nbgrader zip_collect`` for real LMS downloads: a ``FileNameCollectorPlugin`` that knows the
file names of Blackboard, Canvas and Moodle submission downloads.

nbgrader's stock collector matches one regular expression, skips anything else with only a
warning (exit code 0), and hands the timestamp string to ``dateutil``, which reads the
``-HH-MM-SS`` of Blackboard's ``2026-11-27-21-14-03`` as a UTC offset. This collector:

* recognises three naming schemes (the LMS is detected per file):

  ==========  ===============================================================  ==============
  LMS         file name in the download                                         student is
  ==========  ===============================================================  ==============
  Blackboard  ``<assignment>_<user>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>``      ``<user>``
  Canvas      ``<lastfirst>[_LATE]_<userid>_<attachmentid>_<file>``             roster ``lms_user_id``
              (``<lastfirst>`` in any script: ``müllerzoë``, ``王小明``)
  Moodle      ``<Full Name>_<participantid>_assignsubmission_file_<file>``      roster full name
              (or ``<Full Name>_<participantid>_assignsubmission_file_/`` as   (or the grading
              a folder holding ``<file>``, Moodle 3.1+'s "in folders")          worksheet)
  ==========  ===============================================================  ==============

* Moodle's number is a per-assignment *participant* id (``assign_user_mapping``), not the user id,
  so it cannot be a roster column: a Moodle file is matched by the full name to the roster's
  ``first_name last_name`` (either order, with or without a space, Unicode-normalised, case-blind),
  and refused, naming both rows, when two roster students share that name. Or, with
  ``LMSCollector.moodle_worksheet`` set to the assignment's grading worksheet (Moodle: *View all
  submissions -> Download grading worksheet*, CSV), by its ``Identifier`` (``Participant 410006``)
  and ``Email address`` to the roster's ``email``;
* Canvas's ``_LATE`` mark (Canvas's file names carry no time) and each student's LMS file name are
  kept in ``lms/<assignment>.json`` (``read_marks``): ``report`` and ``export`` show "late per LMS",
  ``LatePenalty.lms_late_penalty`` may charge it, and ``release-feedback`` names the feedback files
  as the LMS's bulk upload expects;

* resolves the student against the roster in the gradebook (``nbgrader db student import``),
  so user names with underscores and dots (``jane_doe``, ``j.smith``) are never cut short;
* parses the Blackboard timestamp with an explicit format in a configurable time zone
  (``LMSCollector.timestamp_format``, ``LMSCollector.timezone``) and hands nbgrader a UTC
  ``datetime``, so nbgrader does not guess;
* strips the resubmission suffix that LMSs add (``losses-1.ipynb`` is ``losses.ipynb``) and,
  when a student has several files for one notebook, keeps the latest (later timestamp, then
  higher resubmission number);
* stops with an ERROR and exit code 1, naming every file it cannot match and why, before
  anything is copied.

Enable it in ``nbgrader_config.py`` with
``c.ZipCollectApp.collector_plugin = "kdutils.course.collect.LMSCollector"``.
"""
from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import json
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nbgrader.plugins import FileNameCollectorPlugin
from traitlets import Unicode

__all__ = ["LMSCollector", "Parsed", "parse_name", "PATTERNS", "name_keys", "roster_names", "read_worksheet",
           "read_marks", "write_marks", "MARKS_DIR"]

_TS = r"\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}"
#: LMS name -> regular expression over the file name (Moodle's folder form: see MOODLE_FOLDER).
PATTERNS = {
    "blackboard": re.compile(rf"^(?P<prefix>.+?)_attempt_(?P<timestamp>{_TS})_(?P<file>[^/]+)$"),
    # Canvas keeps the letters (and digits) of "last first" in any script, without spaces or underscores
    "canvas": re.compile(r"^(?P<name>[^\W_]+)(?P<late>_LATE)?_(?P<lms_id>\d+)_(?P<attachment>\d+)_(?P<file>[^/]+)$"),
    "moodle": re.compile(r"^(?P<name>.+?)_(?P<lms_id>\d+)_assignsubmission_(?:file|onlinetext)_(?P<file>[^/]+)$"),
}
#: Moodle 3.1+ "Download submissions in folders": ``<Full Name>_<participantid>_assignsubmission_file_/<file>``
MOODLE_FOLDER = re.compile(r"^(?P<name>.+?)_(?P<lms_id>\d+)_assignsubmission_(?:file|onlinetext)_?$")
_RESUBMISSION = re.compile(r"^(?P<stem>.+)-(?P<n>\d+)$")
#: folder of the course directory with each LMS-collected student's marks (git-ignored: it names students)
MARKS_DIR = "lms"


@dataclass
class Parsed:
    """What a file name says: the student, the notebook, when, which resubmission, and the LMS's own marks."""

    lms: str
    student_id: str
    notebook: str
    timestamp: _dt.datetime | None
    resubmission: int
    late: bool = False          # Canvas's _LATE
    prefix: str = ""            # the LMS's name of this submission without the notebook's file name
    lms_id: str = ""            # Canvas user id or Moodle participant id


def _norm(text: str) -> str:
    """Unicode NFC, case-blind, spaces collapsed: ``Zoë  MÜLLER`` (composed or decomposed) -> ``zoë müller``."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def name_keys(first: str | None, last: str | None) -> set[str]:
    """The ways an LMS may write a roster name: ``first last``, ``last first``, and both without the space."""
    first, last = _norm(first or ""), _norm(last or "")
    if not (first or last):
        return set()
    return {_norm(f"{first} {last}"), _norm(f"{last} {first}"), (first + last).replace(" ", ""),
            (last + first).replace(" ", "")}


def roster_names(students) -> dict[str, list[str]]:
    """``{name key: [student ids]}`` of roster rows (objects with ``id``, ``first_name``, ``last_name``)."""
    out: dict[str, list[str]] = {}
    for s in students:
        for k in name_keys(s.first_name, s.last_name):
            if s.id not in out.setdefault(k, []):
                out[k].append(s.id)
    return out


def read_worksheet(path: str, emails: dict[str, str]) -> dict[str, str]:
    """``{participant id: student id}`` from a Moodle grading worksheet (CSV with ``Identifier`` and
    ``Email address``), through the roster's ``{email: student id}``; ValueError names what does not match."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        cols = set(reader.fieldnames or ())
        if not {"Identifier", "Email address"} <= cols:
            raise ValueError(f"LMSCollector.moodle_worksheet={path!r} has no 'Identifier' and 'Email address' "
                             f"columns (it has {sorted(cols)}); download it from Moodle: View all submissions -> "
                             "Grading action -> Download grading worksheet")
        out, unknown = {}, []
        by_email = {e.casefold(): sid for e, sid in emails.items() if e}
        for row in reader:
            m = re.search(r"(\d+)\s*$", row["Identifier"] or "")
            email = (row["Email address"] or "").strip().casefold()
            if not m:
                continue
            if email in by_email:
                out[m.group(1)] = by_email[email]
            else:
                unknown.append(f"{row['Identifier']} <{row['Email address']}>")
    if unknown:
        raise ValueError(f"LMSCollector.moodle_worksheet: no roster student has the email of {', '.join(unknown)}")
    return out


def _notebook_name(file: str, released: set[str]) -> tuple[str, int]:
    """``losses-2.ipynb`` -> (``losses.ipynb``, 2) when ``losses.ipynb`` is a released notebook."""
    stem, ext = os.path.splitext(file)
    if file in released:
        return file, 0
    m = _RESUBMISSION.match(stem)
    if m and m["stem"] + ext in released:
        return m["stem"] + ext, int(m["n"])
    raise ValueError(f"notebook {file!r} is not one of the released notebooks {sorted(released)}")


def _moodle_student(name: str, participant: str, names: dict[str, list[str]] | None,
                    participants: dict[str, str] | None) -> str:
    if participants:
        if participant not in participants:
            raise ValueError(f"Moodle participant {participant} ({name}) is not in LMSCollector.moodle_worksheet")
        return participants[participant]
    found = (names or {}).get(_norm(name)) or (names or {}).get(_norm(name).replace(" ", "")) or []
    if not found:
        raise ValueError(f"no roster student is named {name!r} (Moodle participant {participant}; Moodle's number "
                         "is a per-assignment participant id, so Moodle files are matched by the roster's "
                         "first_name and last_name, or by LMSCollector.moodle_worksheet)")
    if len(found) > 1:
        raise ValueError(f"{len(found)} roster students are named {name!r}: {', '.join(found)}; tell them apart with "
                         "LMSCollector.moodle_worksheet (Moodle's grading worksheet, matched by email)")
    return found[0]


def parse_name(name: str, roster: set[str], lms_ids: dict[str, str], released: set[str],
               timestamp_format: str = "%Y-%m-%d-%H-%M-%S", timezone: str = "UTC",
               names: dict[str, list[str]] | None = None, participants: dict[str, str] | None = None) -> Parsed:
    """Parse one submission file name (relative to the extracted folder); ValueError says why not.

    ``lms_ids`` maps Canvas user ids to students; ``names`` (``roster_names``) maps Moodle full names, or
    ``participants`` (``read_worksheet``) Moodle participant ids.
    """
    name = unicodedata.normalize("NFC", name)
    parts = name.split(os.sep)
    m, lms = None, None
    if len(parts) > 1:  # Moodle's "in folders" download: the folder names the student
        fm = MOODLE_FOLDER.match(parts[-2])
        if fm:
            notebook, resub = _notebook_name(parts[-1], released)
            student = _moodle_student(fm["name"], fm["lms_id"], names, participants)
            return Parsed("moodle", student, notebook, None, resub, prefix=parts[-2], lms_id=fm["lms_id"])
    for lms, pattern in PATTERNS.items():
        m = pattern.match(parts[-1])
        if m:
            break
    else:
        raise ValueError("matches none of the Blackboard, Canvas or Moodle file name patterns")
    notebook, resub = _notebook_name(m["file"], released)
    timestamp = None
    prefix = parts[-1][:m.start("file")]
    if lms == "blackboard":
        parts = m["prefix"].split("_")
        candidates = ["_".join(parts[i:]) for i in range(len(parts))]
        found = [c for c in candidates if c in roster]
        if not found:
            raise ValueError(f"no student of the roster in {m['prefix']!r} (tried {candidates}); "
                             "import the roster with `nbgrader db student import roster.csv`")
        if len(found) > 1:
            raise ValueError(f"ambiguous student: {found} are all in the roster")
        student = found[0]
        local = _dt.datetime.strptime(m["timestamp"], timestamp_format).replace(tzinfo=ZoneInfo(timezone))
        timestamp = local.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return Parsed(lms, student, notebook, timestamp, resub, prefix=prefix)
    if lms == "moodle":
        student = _moodle_student(m["name"], m["lms_id"], names, participants)
        return Parsed(lms, student, notebook, None, resub, prefix=prefix, lms_id=m["lms_id"])
    if m["lms_id"] not in lms_ids:
        raise ValueError(f"canvas user id {m['lms_id']} is no student's lms_user_id in the roster "
                         "(the roster CSV needs an lms_user_id column)")
    return Parsed(lms, lms_ids[m["lms_id"]], notebook, None, resub, late=bool(m["late"]), prefix=prefix,
                  lms_id=m["lms_id"])


def _marks_path(course: Path, assignment: str) -> Path:
    return Path(course) / MARKS_DIR / f"{assignment}.json"


def read_marks(course: Path, assignment: str) -> dict[str, dict]:
    """``{student: {"lms", "late", "prefix", "lms_id", "files": {notebook: sha256}}}`` of the LMS-collected students.

    A record applies only while the submitted notebooks are the ones collected (their SHA-256 match):
    ``current_marks`` drops the others.
    """
    p = _marks_path(course, assignment)
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}


def current_marks(course: Path, assignment: str, submitted_directory: str = "submitted") -> dict[str, dict]:
    """``read_marks`` restricted to students whose submitted notebooks are still the collected ones."""
    out = {}
    for student, rec in read_marks(course, assignment).items():
        folder = Path(course) / submitted_directory / student / assignment
        if all((folder / nb).is_file() and _sha256(folder / nb) == sha for nb, sha in rec.get("files", {}).items()):
            out[student] = rec
    return out


def _sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_marks(course: Path, assignment: str, marks: dict[str, dict]) -> Path:
    """Merge ``marks`` into ``lms/<assignment>.json`` (students collected again replace their record)."""
    p = _marks_path(course, assignment)
    p.parent.mkdir(parents=True, exist_ok=True)
    data = read_marks(course, assignment)
    data.update(marks)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, p)
    return p


class LMSCollector(FileNameCollectorPlugin):
    """Collector for Blackboard, Canvas and Moodle downloads (see the module docstring)."""

    timestamp_format = Unicode(
        "%Y-%m-%d-%H-%M-%S", help="strptime format of the timestamp in Blackboard file names"
    ).tag(config=True)
    timezone = Unicode(
        "UTC", help="IANA time zone the LMS writes its timestamps in, e.g. 'Europe/Berlin'"
    ).tag(config=True)
    moodle_worksheet = Unicode(
        "", help="Moodle's grading worksheet of the assignment (CSV): match Moodle participant ids by email "
                 "instead of by full name. Relative paths are relative to the course directory."
    ).tag(config=True)

    _chosen: dict | None = None

    def _fail(self, msg: str) -> None:
        fail = getattr(self.parent, "fail", None)
        if fail is None:
            raise ValueError(msg)
        fail(msg)

    def _roster(self) -> tuple[set[str], dict[str, str], dict[str, list[str]], dict[str, str]]:
        from nbgrader.api import Gradebook

        with Gradebook(self.parent.coursedir.db_url) as gb:
            students = gb.students
            return ({s.id for s in students}, {s.lms_user_id: s.id for s in students if s.lms_user_id},
                    roster_names(students), {s.email: s.id for s in students if s.email})

    def _scan(self, extracted: str) -> dict:
        """Parse every file once; fail listing all unmatched files; pick the latest per notebook."""
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            self._fail(f"LMSCollector.timezone={self.timezone!r} is not an IANA time zone name")
        coursedir = self.parent.coursedir
        release = coursedir.format_path(coursedir.release_directory, ".", coursedir.assignment_id)
        released = {f for f in os.listdir(release) if f.endswith(".ipynb")} if os.path.isdir(release) else set()
        if not released:
            self._fail(f"no released notebooks in {release}; run: nbgrader generate_assignment "
                       f"{coursedir.assignment_id} --force")
        roster, lms_ids, names, emails = self._roster()
        participants = None
        if self.moodle_worksheet:
            path = os.path.join(coursedir.root, self.moodle_worksheet)
            if not os.path.isfile(path):
                self._fail(f"LMSCollector.moodle_worksheet={self.moodle_worksheet!r}: no such file ({path})")
            try:
                participants = read_worksheet(path, emails)
            except ValueError as e:
                self._fail(str(e))
        parsed, errors = {}, []
        for root, _, files in os.walk(extracted):
            for f in sorted(files):
                path = os.path.join(root, f)
                rel = os.path.relpath(path, extracted)
                if os.path.splitext(f)[1] not in self.valid_ext:
                    continue
                try:
                    parsed[path] = parse_name(rel, roster, lms_ids, released, self.timestamp_format, self.timezone,
                                              names=names, participants=participants)
                except ValueError as e:
                    errors.append(f"  {rel}: {e}")
        if errors:
            self._fail(f"zip_collect: {len(errors)} submission file(s) could not be matched; nothing was "
                       "collected. Rename or remove them and run again:\n" + "\n".join(errors))
        best: dict[tuple[str, str], str] = {}
        key = lambda p: (parsed[p].timestamp or _dt.datetime.min, parsed[p].resubmission)  # noqa: E731
        for path, p in sorted(parsed.items()):
            k = (p.student_id, p.notebook)
            if k not in best or key(path) >= key(best[k]):
                if k in best:
                    self.log.info("%s supersedes %s", path, best[k])
                best[k] = path
        winners = set(best.values())
        marks: dict[str, dict] = {}
        for path in sorted(winners):
            p = parsed[path]
            if p.lms in ("canvas", "moodle"):
                rec = marks.setdefault(p.student_id, {"lms": p.lms, "late": False, "prefix": p.prefix,
                                                      "lms_id": p.lms_id, "files": {}})
                rec["late"] = rec["late"] or p.late
                rec["files"][p.notebook] = _sha256(path)
        if marks:
            write_marks(Path(coursedir.root), coursedir.assignment_id, marks)
            late = sorted(s for s, r in marks.items() if r["late"])
            if late:
                self.log.warning("late per the LMS (Canvas _LATE, no time in the file name): %s", ", ".join(late))
        return {path: (p if path in winners else None) for path, p in parsed.items()}

    def collect(self, submitted_file: str):
        if os.path.splitext(submitted_file)[1] not in self.valid_ext:
            return None
        if self._chosen is None:
            self._chosen = self._scan(self.parent._format_collect_path(self.parent.extracted_directory))
        p = self._chosen.get(submitted_file)
        if p is None:
            self.log.info("Older submission skipped (a later one of the same student wins): %s", submitted_file)
            return None
        info = {"student_id": p.student_id, "file_id": p.notebook}
        if p.timestamp is not None:
            info["timestamp"] = p.timestamp
        return info
