"""Creating Unix users and acting as them, for the tests of the multi-user exchange.

Only these steps need root: creating and deleting a user (``useradd``/``userdel``), giving it a
directory (``chown``), running a command as it (``setpriv``), and reading or removing what it
owns. Everything else in the tests runs as whoever runs pytest. :func:`admin` says how to get
root for those steps: nothing to add when pytest runs as root (as ``.ci/run`` does), ``sudo -n``
when passwordless sudo works (as for the GitHub runner's user), or None when neither does: then
a test that needs a second Unix user skips, saying so.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

NO_ADMIN = ("needs root or passwordless sudo to create Unix users (useradd) and run commands as them "
            "(setpriv); this user has neither")


@functools.cache
def admin() -> tuple[str, ...] | None:
    """The prefix that runs a command as root: ``()`` as root, ``("sudo", "-n")`` with passwordless sudo, else None."""
    if os.geteuid() == 0:
        return ()
    sudo = shutil.which("sudo")
    if sudo and subprocess.run([sudo, "-n", "true"], capture_output=True).returncode == 0:
        return (sudo, "-n")
    return None


def unsearchable(path: Path) -> Path | None:
    """The first directory of ``path`` and its parents that other users cannot search (no o+x), or None."""
    for d in (path, *path.parents):
        if d.is_dir() and not d.stat().st_mode & 0o001:
            return d
    return None


def problem() -> str | None:
    """Why the tests cannot act as other Unix users here, or None when they can.

    Besides root (or sudo), the other users must be able to reach this environment's packages: their
    processes read anything (CAP_DAC_READ_SEARCH), but ``os.access`` ignores that capability, and alembic
    (every nbgrader gradebook) checks its own folder with it."""
    if admin() is None:
        return NO_ADMIN
    import nbgrader

    blocked = unsearchable(Path(nbgrader.__file__).resolve().parent)
    if blocked is not None:
        return (f"other Unix users cannot search {blocked} (mode {blocked.stat().st_mode & 0o777:o}), where this "
                f"environment's packages are: nbgrader run as them cannot find its own files (alembic checks "
                f"them with os.access, which ignores CAP_DAC_READ_SEARCH); chmod o+x {blocked} to run this test")
    return None


def run_as_root(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    prefix = admin()
    assert prefix is not None, NO_ADMIN
    return subprocess.run([*prefix, *cmd], capture_output=True, text=True, check=check)


def create(name: str, home: Path | None = None) -> None:
    """A system user ``name`` without a login shell (kept when it exists); ``home`` created and given to it."""
    if subprocess.run(["id", name], capture_output=True).returncode != 0:
        run_as_root("useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name)
    if home is not None:
        home.mkdir(parents=True, exist_ok=True)
        give(home, name)


def give(path: Path, name: str) -> None:
    run_as_root("chown", "-R", f"{name}:{name}", str(path))


def delete(*names: str) -> None:
    for name in names:
        run_as_root("userdel", name, check=False)


def remove_tree(path: Path) -> None:
    """``rm -rf`` a directory that holds other users' files."""
    run_as_root("rm", "-rf", "--one-file-system", str(path), check=False)


def uid(name: str) -> int:
    return int(subprocess.run(["id", "-u", name], capture_output=True, text=True, check=True).stdout)


def owners(directory: Path) -> set[int]:
    """The uids owning the entries of ``directory`` (as root: nbgrader's inbound is not listable by others)."""
    out = run_as_root("find", str(directory), "-mindepth", "1", "-maxdepth", "1", "-printf", "%U\n").stdout
    return {int(u) for u in out.split()}


def keep() -> dict[str, str]:
    """What a clean environment must keep to start this interpreter: ``LD_LIBRARY_PATH`` of a shared-library
    Python (actions/setup-python sets it; without it the interpreter may load another libpython)."""
    return {k: os.environ[k] for k in ("LD_LIBRARY_PATH",) if k in os.environ}


def command(user: str, env: dict[str, str], *args: str) -> list[str]:
    """``args`` run as ``user`` with exactly ``env``, with CAP_DAC_READ_SEARCH only (read anything: the
    interpreter may live under /root or another user's home, which ``user`` cannot enter); every write
    is still checked against ``user``'s own permissions."""
    prefix = admin()
    assert prefix is not None, NO_ADMIN
    env = {**keep(), **env}
    return [*prefix, "env", "-i", *(f"{k}={v}" for k, v in env.items()),
            "setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--inh-caps=+dac_read_search",
            "--ambient-caps=+dac_read_search", *args]
