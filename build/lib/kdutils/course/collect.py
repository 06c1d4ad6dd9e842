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
  Moodle      ``<Full Name>_<participantid>_assignsubmission_file_<file>``      roster ``lms_user_id``
              (or that prefix as a folder holding ``<file>``)
  ==========  ===============================================================  ==============

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

import datetime as _dt
import os
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nbgrader.plugins import FileNameCollectorPlugin
from traitlets import Unicode

__all__ = ["LMSCollector", "Parsed", "parse_name", "PATTERNS"]

_TS = r"\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}"
#: LMS name -> regular expression over the file name (Moodle's folder form is joined with "_").
PATTERNS = {
    "blackboard": re.compile(rf"^(?P<prefix>.+?)_attempt_(?P<timestamp>{_TS})_(?P<file>[^/]+)$"),
    "canvas": re.compile(r"^(?P<name>[a-z]+)(?P<late>_LATE)?_(?P<lms_id>\d+)_(?P<attachment>\d+)_(?P<file>[^/]+)$"),
    "moodle": re.compile(r"^(?P<name>.+?)_(?P<lms_id>\d+)_assignsubmission_file_?(?P<file>[^/]+)$"),
}
_RESUBMISSION = re.compile(r"^(?P<stem>.+)-(?P<n>\d+)$")


@dataclass
class Parsed:
    """What a file name says: the student, the notebook, when, and which resubmission."""

    lms: str
    student_id: str
    notebook: str
    timestamp: _dt.datetime | None
    resubmission: int


def _notebook_name(file: str, released: set[str]) -> tuple[str, int]:
    """``losses-2.ipynb`` -> (``losses.ipynb``, 2) when ``losses.ipynb`` is a released notebook."""
    stem, ext = os.path.splitext(file)
    if file in released:
        return file, 0
    m = _RESUBMISSION.match(stem)
    if m and m["stem"] + ext in released:
        return m["stem"] + ext, int(m["n"])
    raise ValueError(f"notebook {file!r} is not one of the released notebooks {sorted(released)}")


def parse_name(name: str, roster: set[str], lms_ids: dict[str, str], released: set[str],
               timestamp_format: str = "%Y-%m-%d-%H-%M-%S", timezone: str = "UTC") -> Parsed:
    """Parse one submission file name (relative to the extracted folder); ValueError says why not."""
    parts = name.split(os.sep)
    # the file name itself, or (Moodle's "in folders" download) its folder and name joined by "_"
    tries = [parts[-1]] + (["_".join(parts[-2:])] if len(parts) > 1 else [])
    m = None
    for flat in tries:
        for lms, pattern in PATTERNS.items():
            m = pattern.match(flat)
            if m:
                break
        if m:
            break
    else:
        raise ValueError("matches none of the Blackboard, Canvas or Moodle file name patterns")
    notebook, resub = _notebook_name(m["file"], released)
    timestamp = None
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
    else:
        if m["lms_id"] not in lms_ids:
            raise ValueError(f"{lms} user id {m['lms_id']} is no student's lms_user_id in the roster "
                             "(the roster CSV needs an lms_user_id column)")
        student = lms_ids[m["lms_id"]]
    return Parsed(lms, student, notebook, timestamp, resub)


class LMSCollector(FileNameCollectorPlugin):
    """Collector for Blackboard, Canvas and Moodle downloads (see the module docstring)."""

    timestamp_format = Unicode(
        "%Y-%m-%d-%H-%M-%S", help="strptime format of the timestamp in Blackboard file names"
    ).tag(config=True)
    timezone = Unicode(
        "UTC", help="IANA time zone the LMS writes its timestamps in, e.g. 'Europe/Berlin'"
    ).tag(config=True)

    _chosen: dict | None = None

    def _fail(self, msg: str) -> None:
        fail = getattr(self.parent, "fail", None)
        if fail is None:
            raise ValueError(msg)
        fail(msg)

    def _roster(self) -> tuple[set[str], dict[str, str]]:
        from nbgrader.api import Gradebook

        with Gradebook(self.parent.coursedir.db_url) as gb:
            students = gb.students
            return {s.id for s in students}, {s.lms_user_id: s.id for s in students if s.lms_user_id}

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
            self._fail(f"no released notebooks in {release}: run `nbgrader generate_assignment "
                       f"{coursedir.assignment_id}` first")
        roster, lms_ids = self._roster()
        parsed, errors = {}, []
        for root, _, files in os.walk(extracted):
            for f in sorted(files):
                path = os.path.join(root, f)
                rel = os.path.relpath(path, extracted)
                if os.path.splitext(f)[1] not in self.valid_ext:
                    continue
                try:
                    parsed[path] = parse_name(rel, roster, lms_ids, released, self.timestamp_format, self.timezone)
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
