#!/usr/bin/env python3
"""Run the GitHub workflows' ``run:`` steps here, in order, from a fresh clone, as a non-root user.

What a hosted runner does, as far as this machine allows (issue 24):

* ``actions/checkout``: a fresh ``git clone`` of this repository at its HEAD commit (commit first:
  uncommitted changes are not in the clone) into a new directory in the user's home, given to the user;
* ``actions/setup-python``: a bare venv of ``--python`` (standard library only, like the runner's
  interpreter: no PyYAML) first on ``PATH`` (``python``, ``python3``, ``python3.X``; and, for a
  shared-library build, its ``lib/`` on ``LD_LIBRARY_PATH``, as setup-python sets it). The user must be
  able to read it: not under /root. The lock needs Python >= 3.11.5 (soupsieve), newer than Debian 12's
  3.11.2: give a copy of a newer 3.11 outside /root, e.g. ``--python /opt/<python>/bin/python3.11``;
* every ``run:`` step: ``bash -e`` (GitHub's default shell), with the workflow's, the job's and the
  step's ``env:`` (``${{ steps.<id>.outputs.<name> }}`` filled from ``--output``), ``CI=true``, the
  machine's certificate and proxy variables, a clean environment otherwise, as the user ``--user`` (created with ``useradd``, run with
  ``runuser``); ``--sudo`` gives it passwordless sudo, as the runner's user has, for the steps that
  say ``sudo`` (removed afterwards);
* not run: other ``uses:`` steps (``configure-pages``: its ``base_url`` output defaults to
  ``_config.yml``'s ``html.baseurl``; ``upload-pages-artifact``) and the jobs that deploy.

The first failing step stops its job, as on the runner. Must run as root (it creates the user).

    sudo .ci/workflow_steps.py --sudo --env KD_CHROMIUM=/usr/bin/chromium \\
        --env PYTEST_ARGS='-m "not slow"' test.yml:test
    .ci/workflow_steps.py --dry-run             # the plan: every job, every step
"""
from __future__ import annotations

import argparse
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
DEPLOY_ACTIONS = ("actions/deploy-pages", "actions/upload-pages-artifact")
EXPR = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The machine's network settings (its certificate bundle, proxies) pass into the clean environment, as a
# runner's own network configuration would be there: nothing else of the caller's environment does.
NETWORK_VARS = re.compile(r"CERT|CA_BUNDLE|CAINFO|_proxy$", re.I)


@dataclass
class Step:
    name: str
    run: str | None  # None: a `uses:` step
    uses: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    id: str | None = None


@dataclass
class Job:
    workflow: str
    name: str
    env: dict[str, str]
    steps: list[Step]
    skipped: str | None = None  # why the whole job is left out

    @property
    def key(self) -> str:
        return f"{self.workflow}:{self.name}"


def load_jobs(workflows: Path = WORKFLOWS) -> list[Job]:
    """Every job of every ``*.yml`` workflow, with its steps in order; deploy jobs marked ``skipped``."""
    jobs = []
    for path in sorted(workflows.glob("*.yml")):
        wf = yaml.safe_load(path.read_text())
        wf_env = {k: str(v) for k, v in (wf.get("env") or {}).items()}
        for name, spec in wf["jobs"].items():
            steps = []
            for i, s in enumerate(spec.get("steps", [])):
                title = s.get("name") or (f"uses {s['uses']}" if "uses" in s else f"step {i + 1}")
                steps.append(Step(title, s.get("run"), s.get("uses"),
                                  {k: str(v) for k, v in (s.get("env") or {}).items()}, s.get("id")))
            env = {**wf_env, **{k: str(v) for k, v in (spec.get("env") or {}).items()}}
            job = Job(path.name, name, env, steps)
            if "environment" in spec or all(s.run is None and (s.uses or "").startswith(DEPLOY_ACTIONS)
                                            for s in steps):
                job.skipped = "deploys (needs GitHub's Pages environment)"
            jobs.append(job)
    return jobs


def substitute(text: str, outputs: dict[str, str]) -> str:
    def one(m: re.Match) -> str:
        expr = m.group(1)
        if expr not in outputs:
            raise SystemExit(f"no value for the expression ${{{{ {expr} }}}}: give it with --output '{expr}=VALUE'")
        return outputs[expr]
    return EXPR.sub(one, text)


def default_outputs() -> dict[str, str]:
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    return {"steps.pages.outputs.base_url": str(cfg["html"]["baseurl"])}


def sh(*cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), check=True, **kw)


class Runner:
    def __init__(self, user: str, sudo: bool, python: str, extra_env: dict[str, str], outputs: dict[str, str],
                 keep: bool, keep_user: bool):
        self.user, self.sudo, self.python = user, sudo, python
        self.extra_env, self.outputs, self.keep, self.keep_user = extra_env, outputs, keep, keep_user
        self.sudoers = Path(f"/etc/sudoers.d/kd-ci-{user}")
        self.created = False

    # ----------------------------------------------------------------- the user
    def __enter__(self):
        if os.geteuid() != 0:
            raise SystemExit("workflow_steps.py creates a user with useradd and must run as root")
        try:
            pwd.getpwnam(self.user)
        except KeyError:
            sh("useradd", "--create-home", "--shell", "/bin/bash", self.user)
            self.created = True
        self.home = Path(pwd.getpwnam(self.user).pw_dir)
        if self.sudo:
            if not shutil.which("sudo"):
                raise SystemExit("--sudo: sudo is not installed (apt-get install sudo)")
            self.sudoers.write_text(f"{self.user} ALL=(ALL) NOPASSWD:ALL\n")
            self.sudoers.chmod(0o440)
        return self

    def __exit__(self, *exc):
        self.sudoers.unlink(missing_ok=True)
        if self.created and not self.keep_user:
            subprocess.run(["userdel", "--remove", self.user], capture_output=True)

    def as_user(self, *cmd: str, env: dict[str, str], cwd: Path) -> int:
        argv = ["runuser", "-u", self.user, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()), *cmd]
        return subprocess.run(argv, cwd=cwd).returncode

    # ----------------------------------------------------------------- one job
    def run_job(self, job: Job) -> bool:
        work = Path(tempfile.mkdtemp(prefix=f"kd-ci-{job.workflow.removesuffix('.yml')}-{job.name}-",
                                     dir=self.home))
        shutil.chown(work, self.user, self.user)
        work.chmod(0o755)  # like a runner's workspace: other users (the exchange tests' students) may search it
        clone = work / "repo"
        tool = work / "python"
        base_env = {"HOME": str(self.home), "USER": self.user, "LOGNAME": self.user, "LANG": "C.UTF-8",
                    "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(clone),
                    "RUNNER_TEMP": str(work / "tmp"), "PATH": BASE_PATH,
                    **{k: v for k, v in os.environ.items() if NETWORK_VARS.search(k)}}
        sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        print(f"\n=== {job.key}: fresh clone of {sha[:10]} in {clone}, as {self.user}", flush=True)
        ok = True
        t_job = time.perf_counter()
        try:
            for step in job.steps:
                t0 = time.perf_counter()
                if step.run is None:
                    action = (step.uses or "").split("@")[0]
                    if action == "actions/checkout":
                        # cloned as root (git refuses another user's repository), then given to the user
                        rc = subprocess.run(["bash", "-ec", f"git clone -q --no-checkout {shlex.quote(str(ROOT))} "
                                             f"{shlex.quote(str(clone))} && git -C {shlex.quote(str(clone))} "
                                             f"checkout -q {sha} && chown -R {self.user}: {shlex.quote(str(clone))}"],
                                            cwd=work).returncode
                        (work / "tmp").mkdir(exist_ok=True)
                        shutil.chown(work / "tmp", self.user, self.user)
                    elif action == "actions/setup-python":
                        rc = self.as_user(self.python, "-m", "venv", str(tool), env=base_env, cwd=work)
                        base_env["PATH"] = f"{tool}/bin:{BASE_PATH}"
                        lib = Path(self.python).resolve().parent.parent / "lib"
                        if list(lib.glob("libpython3*.so*")):  # a shared-library build: as setup-python does
                            base_env["LD_LIBRARY_PATH"] = str(lib)
                    else:
                        print(f"--- {step.name}: not run here ({step.uses})", flush=True)
                        continue
                    what = f"emulated {step.uses}"
                else:
                    env = {**base_env, **{k: substitute(v, self.outputs) for k, v in job.env.items()},
                           **{k: substitute(v, self.outputs) for k, v in step.env.items()}, **self.extra_env}
                    script = work / "tmp" / f"step-{time.monotonic_ns()}.sh"
                    script.write_text(substitute(step.run, self.outputs))
                    script.chmod(0o644)
                    print(f"--- {step.name}\n{textwrap_indent(step.run)}", flush=True)
                    rc = self.as_user("bash", "-e", str(script), env=env, cwd=clone)
                    what = "run"
                dt = time.perf_counter() - t0
                print(f"--- {step.name}: {what}, exit {rc}, {dt:.0f} s", flush=True)
                if rc != 0:
                    ok = False
                    print(f"=== {job.key}: FAILED at step {step.name!r} (exit {rc})", flush=True)
                    break
        finally:
            if not self.keep:
                shutil.rmtree(work, ignore_errors=True)
        if ok:
            print(f"=== {job.key}: every step passed in {time.perf_counter() - t_job:.0f} s", flush=True)
        return ok


def textwrap_indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("jobs", nargs="*", help="WORKFLOW:JOB to run, e.g. test.yml:test (default: every job but deploys)")
    p.add_argument("--user", default="kd-ci", help="the non-root user to create and run as (default kd-ci)")
    p.add_argument("--sudo", action="store_true", help="give the user passwordless sudo, as a GitHub runner's has")
    p.add_argument("--python", default="/usr/bin/python3.11",
                   help="the interpreter actions/setup-python provides (default Debian's /usr/bin/python3.11)")
    p.add_argument("--env", action="append", default=[], metavar="K=V", help="set or override a variable in every step")
    p.add_argument("--output", action="append", default=[], metavar="EXPR=V",
                   help="value of an expression, e.g. steps.pages.outputs.base_url=https://x.github.io/y/")
    p.add_argument("--keep", action="store_true", help="keep the clone (in the user's home)")
    p.add_argument("--keep-user", action="store_true", help="keep the user and its home (its uv and pip caches)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    args = p.parse_args(argv)

    def pairs(items: list[str], flag: str) -> dict[str, str]:
        out = {}
        for item in items:
            if "=" not in item:
                p.error(f"{flag} takes K=V, got {item!r}")
            k, v = item.split("=", 1)
            out[k] = v
        return out

    extra_env, outputs = pairs(args.env, "--env"), {**default_outputs(), **pairs(args.output, "--output")}
    jobs = load_jobs()
    if args.jobs:
        known = {j.key: j for j in jobs}
        unknown = [k for k in args.jobs if k not in known]
        if unknown:
            p.error(f"unknown jobs {unknown}; choose from {sorted(known)}")
        jobs = [known[k] for k in args.jobs]
    if args.dry_run:
        for job in jobs:
            print(f"{job.key}" + (f"  (not run: {job.skipped})" if job.skipped else ""))
            for s in job.steps:
                kind = "run" if s.run is not None else f"uses {s.uses}"
                print(f"  - {s.name} [{kind}]")
        return 0
    if subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", "HEAD"]).returncode != 0:
        print("warning: the checkout has uncommitted changes; the clone has only what HEAD has", file=sys.stderr)
    results = {}
    with Runner(args.user, args.sudo, args.python, extra_env, outputs, args.keep, args.keep_user) as runner:
        for job in jobs:
            if job.skipped:
                print(f"\n=== {job.key}: not run ({job.skipped})")
                continue
            results[job.key] = runner.run_job(job)
    passed = sum(results.values())
    print(f"\nworkflow jobs: {passed} passed, {len(results) - passed} failed")
    return 0 if results and all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
