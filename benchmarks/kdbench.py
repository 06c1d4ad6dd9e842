"""Measurements behind ``make bench``: book build, nbgrader grading, distillation quality, compression, loss speed.

Plain functions, one per measurement, each returning JSON-ready data; ``run.py``
calls them in order, shows a progress bar and writes ``results.json`` and
``results.md``. The distillation part runs ``kdutils.recipes`` (the recipes of
the book's chapter "Experiments that matter") and reports, next to it, the MNIST
figures of Hinton, Vinyals & Dean (2015), "Distilling the Knowledge in a Neural
Network": 67 teacher / 146 scratch / 74 distilled test errors, 91 % of the gap.

Nothing here is downloaded: the book and the courses are built from the
repository, and the data come from ``kdutils.data``.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.benchmark import Timer

from kdutils import models, recipes
from kdutils.losses import kd_kl_loss

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

#: The recipes the benchmark runs: every named recipe of ``kdutils.recipes``.
# The teacher, the scratch student and every candidate recipe; "recommended" is whichever candidate
# validation chooses, so it is not run twice: each row says whether validation chose it.
RECIPE_NAMES = ("teacher", "scratch", *recipes.CANDIDATES)
HINTON_2015_MNIST = {"teacher_errors": 67, "scratch_errors": 146, "kd_errors": 74, "gap_recovered": (146 - 74) / (146 - 67)}

#: Keys (dotted paths) every results.json carries, so other tools can read it.
REQUIRED_KEYS = (
    "machine",
    "install.venv_mb",  # issue 24: du of the venv `make venv` builds (CPU-only torch), under 1.5 GB
    "book.clean_build_s",
    "book.clean_build_both_s",
    "book.zh_extra_s",
    "book.cached_build_s",
    "book.pdf_pages",
    "book.pdf_build_s",
    "grading.seconds_per_notebook.losses",
    "grading.seconds_per_notebook.training",
    "grading.seconds_per_notebook.losses_zh",  # issue 17: the Chinese releases, within 10 % of the English ones
    "grading.seconds_per_notebook.training_zh",
    "grading.demo_class_s",
    "grading.batch_seconds_per_notebook.losses",
    "grading.batch_seconds_per_notebook.training",
    "grading.class.students",
    "grading.class.jobs1_s",
    "grading.class.jobs2_s",
    "grading.class.speedup",
    "grading.class.extrapolated_200_students_s",
    "grading.class.postgres_s",
    "grading.class.sqlite_s",
    "grading.breakdown",
    "grading.final_task.scratch_max",
    "grading.final_task.kd_min",
    "grading.final_task.threshold",
    "compression.param_ratio",
    "compression.latency_ratio",
    "losses.kd_kl_loss_s",
    "losses.naive_s",
    "losses.torch_idiom_s",
    "losses.kd_kl_loss_vs_torch_idiom",
)
#: Keys of the ``tests`` part (``run.py --update tests``, about as long as CI): checked when the part is present.
TESTS_KEYS = ("tests.make_test_s", "tests.make_test_all_s")
#: Required keys whose value is a mapping, not a number.
MAPPING_KEYS = ("machine", "grading.breakdown")
RECIPE_FIELDS = ("mean_acc", "std_acc", "test_errors", "gap_recovered", "seeds")


# --------------------------------------------------------------------------- small helpers


def seconds_per_call(stmt: Callable[[], object], number: int) -> float:
    """Mean seconds of one ``stmt()`` over ``number`` calls, timed by ``torch.utils.benchmark.Timer``.

    The Timer runs with the current ``torch.get_num_threads()`` (``make bench`` sets 1).
    """
    timer = Timer(stmt="stmt()", globals={"stmt": stmt}, num_threads=torch.get_num_threads())
    return timer.timeit(number).mean


def machine_info() -> dict:
    """The machine and software the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024**2, 1)
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "gpu": False,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "git_commit": commit,
    }


def get_path(results: Mapping, dotted: str):
    """``results["a"]["b"]`` for ``"a.b"``; raises KeyError naming the missing part."""
    node = results
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(f"results has no {dotted!r} (missing {part!r})")
        node = node[part]
    return node


PARTS = ("install", "book", "grading", "distillation", "compression", "losses", "tests", "lm")
#: parts that a plain ``make bench`` measures; ``tests`` (the test tiers on a fresh clone, as long as CI) is measured
#: by ``benchmarks/run.py --update tests`` and otherwise carried over from the committed results
DEFAULT_PARTS = ("install", "book", "grading", "distillation", "compression", "losses", "lm")
LM_METRICS = ("validity", "sample_logp", "true_nll", "distinct", "teacher_tokens", "student_tokens", "seconds")


def validate_results(results: Mapping, parts: Iterable[str] = PARTS, optional: Iterable[str] = ()) -> list[str]:
    """Problems with ``results`` against the documented schema (an empty list when it is complete).

    Only the keys of ``parts`` (and ``machine``) are required, less the dotted
    keys in ``optional``, so a reduced run (``--skip``, ``--no-demo``) can still be checked.
    """
    optional = set(optional)
    parts = set(parts)
    unknown = parts - set(PARTS)
    if unknown:
        raise ValueError(f"parts must be among {PARTS}, got parts={sorted(unknown)}")
    problems = []
    keys = REQUIRED_KEYS + (TESTS_KEYS if "tests" in results else ())
    for key in keys:
        if key in optional or (key != "machine" and key.split(".")[0] not in parts):
            continue
        try:
            value = get_path(results, key)
        except KeyError as exc:
            problems.append(str(exc.args[0]))
            continue
        if key in MAPPING_KEYS:
            if not (isinstance(value, Mapping) and value):
                problems.append(f"{key} must be a non-empty mapping, got {value!r}")
        elif not (isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0):
            problems.append(f"{key} must be a number >= 0, got {value!r}")
    if not isinstance(results.get("machine"), Mapping) or not results.get("machine"):
        problems.append("machine must be a non-empty mapping")
    if "lm" in parts and "lm" in results:  # optional part (older committed results have none)
        problems += lm_problems(results["lm"])
    if "distillation" not in parts:
        return problems
    dist = results.get("distillation")
    if not isinstance(dist, Mapping) or not dist:
        problems.append("distillation must map at least one dataset to its recipes")
        return problems
    for dataset, table in dist.items():
        for recipe in RECIPE_NAMES:
            row = table.get(recipe) if isinstance(table, Mapping) else None
            if not isinstance(row, Mapping):
                problems.append(f"distillation.{dataset}.{recipe} is missing")
                continue
            for f in RECIPE_FIELDS:
                if f not in row:
                    problems.append(f"distillation.{dataset}.{recipe}.{f} is missing")
            seeds = row.get("seeds")
            if not isinstance(seeds, list) or not seeds:
                problems.append(f"distillation.{dataset}.{recipe}.seeds must be a non-empty list, got {seeds!r}")
    return problems


def lm_problems(lm_results) -> list[str]:
    """Problems with ``results["lm"]``: ``lm.<method>.<metric>`` with a mean and a std for every method and ``LM_METRICS``."""
    from kdutils import lm

    if not isinstance(lm_results, Mapping):
        return [f"lm must be a mapping, got {lm_results!r}"]
    problems = []
    for method in lm.METHODS:
        row = lm_results.get(method)
        for metric in LM_METRICS:
            stat = row.get(metric) if isinstance(row, Mapping) else None
            if not (isinstance(stat, Mapping) and all(isinstance(stat.get(k), (int, float)) for k in ("mean", "std"))):
                problems.append(f"lm.{method}.{metric} must have a numeric mean and std, got {stat!r}")
    if not isinstance(lm_results.get("seconds"), (int, float)):
        problems.append(f"lm.seconds must be a number, got {lm_results.get('seconds')!r}")
    return problems


def bench_lm(seeds: Sequence[int]) -> dict:
    """The chapter "Distilling language models", measured: every method of ``kdutils.lm`` over ``seeds``.

    ``<method>.<metric>`` holds the mean and sample std over the seeds of
    ``LM_METRICS`` (exact metrics of ``kdutils.lm.evaluate``, the tokens of
    ``run_method``, seconds per student); ``seconds`` is the whole run, teacher
    included, i.e. about the chapter's execution time without its figures.
    """
    from kdutils import lm

    t0 = time.perf_counter()
    setup = lm.Setup()
    prepared = lm.prepare(setup)
    rows = lm.run_experiment(setup, prepared, list(lm.METHODS), list(seeds))
    methods = {}
    for method in lm.METHODS:
        mine = [r for r in rows if r["method"] == method]
        methods[method] = {}
        for metric in LM_METRICS:
            v = np.array([float(r[metric]) for r in mine])
            methods[method][metric] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}
    return {"seeds": list(seeds), "teacher_seconds": prepared["teacher_seconds"], **methods,
            "seconds": time.perf_counter() - t0}


# --------------------------------------------------------------------------- 5. library hot path


def naive_kd_kl_loss(student_logits, teacher_logits, T: float):
    """The textbook way: ``log(softmax(.))`` on both sides. Overflows to inf/nan for large logits."""
    p = torch.softmax(teacher_logits / T, dim=-1)  # (N, C)
    q = torch.softmax(student_logits / T, dim=-1)  # (N, C)
    return T * T * (p * (torch.log(p) - torch.log(q))).sum(dim=-1).mean()


def torch_idiom_kd_kl_loss(student_logits, teacher_logits, T: float):
    """PyTorch's own idiom for the KD term: ``F.kl_div`` on two ``log_softmax`` with ``log_target=True``."""
    return F.kl_div(F.log_softmax(student_logits / T, dim=-1), F.log_softmax(teacher_logits / T, dim=-1),
                    reduction="batchmean", log_target=True) * T * T


def bench_losses(n: int = 4096, c: int = 1000, T: float = 4.0, repeats: int = 20, warmup: int = 3, seed: int = 0) -> dict:
    """Forward + backward time of ``kd_kl_loss`` against PyTorch's idiom and ``naive_kd_kl_loss`` on an ``(n, c)`` batch.

    Each sample is one call timed by ``torch.utils.benchmark.Timer``; the two are
    interleaved so that machine noise hits both alike. Also records the largest
    difference between the two on ordinary logits and whether each stays finite
    when the logits are scaled to ±1e4.
    """
    gen = torch.Generator().manual_seed(seed)
    s0 = torch.randn(n, c, generator=gen) * 3  # (N, C)
    t = torch.randn(n, c, generator=gen) * 3  # (N, C)

    def step(loss_fn, s_base):
        s = s_base.clone().requires_grad_(True)
        loss = loss_fn(s, t, T)
        loss.backward()
        return loss.detach(), s.grad

    fns = {"kd_kl_loss": kd_kl_loss, "torch_idiom": torch_idiom_kd_kl_loss, "naive": naive_kd_kl_loss}
    for fn in fns.values():
        for _ in range(warmup):
            step(fn, s0)
    samples = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(seconds_per_call(lambda: step(fn, s0), 1))
    times = {k: statistics.median(v) for k, v in samples.items()}
    ref, g_ref = step(kd_kl_loss, s0)
    nai, g_nai = step(naive_kd_kl_loss, s0)
    with torch.no_grad():
        big_s, big_t = s0 * 1e4 / s0.abs().max(), t * 1e4 / t.abs().max()  # logits up to ±1e4
        big_ref, big_nai = kd_kl_loss(big_s, big_t, T), naive_kd_kl_loss(big_s, big_t, T)
    return {
        "shape": [n, c],
        "T": T,
        "repeats": repeats,
        "kd_kl_loss_s": times["kd_kl_loss"],
        "naive_s": times["naive"],
        "torch_idiom_s": times["torch_idiom"],
        "kd_kl_loss_vs_torch_idiom": times["kd_kl_loss"] / times["torch_idiom"],
        "speed_ratio_naive_over_kd": times["naive"] / times["kd_kl_loss"],
        "max_abs_loss_diff": float((ref - nai).abs()),
        "max_abs_grad_diff": float((g_ref - g_nai).abs().max()),
        "kd_kl_loss_finite_at_1e4": bool(torch.isfinite(big_ref)),
        "naive_finite_at_1e4": bool(torch.isfinite(big_nai)),
    }


# --------------------------------------------------------------------------- 4. compression


def bench_compression(dataset: str = "digits", student_hidden: int | None = None, batch_size: int = 1024,
                      rounds: int = 10, repeats: int = 20) -> dict:
    """Parameters, bytes and CPU batch-inference latency of the book's teacher and student, side by side.

    The two models (in eval mode, without gradients) are timed in alternating
    rounds of ``repeats`` forward passes by ``torch.utils.benchmark.Timer``; the
    latency is the median over rounds of the mean pass in each round.
    """
    setup = recipes.Setup(dataset=dataset) if student_hidden is None else recipes.Setup(dataset=dataset, student_hidden=student_hidden)
    size = recipes.get_splits(dataset).image_shape[-1]
    torch.manual_seed(0)
    teacher = models.build_model(models.teacher_config(size, setup.teacher_kind)).eval()
    student = models.build_model(models.student_config(size, setup.student_hidden)).eval()
    batch = torch.rand(batch_size, 1, size, size)  # (B, 1, H, W)
    lat = {"teacher": [], "student": []}
    with torch.no_grad():
        for m in (teacher, student):
            for _ in range(2):  # warm-up
                m(batch)
        for _ in range(rounds):
            for name, m in (("teacher", teacher), ("student", student)):
                lat[name].append(seconds_per_call(lambda: m(batch), repeats))
    out = {"dataset": dataset, "batch_size": batch_size, "timed_passes_per_model": rounds * repeats}
    for name, m in (("teacher", teacher), ("student", student)):
        out[name] = {
            "parameters": models.count_parameters(m),
            "bytes": models.model_size_bytes(m),
            "latency_s": statistics.median(lat[name]),
            "description": str(m.config),
        }
    out["param_ratio"] = out["teacher"]["parameters"] / out["student"]["parameters"]
    out["bytes_ratio"] = out["teacher"]["bytes"] / out["student"]["bytes"]
    out["latency_ratio"] = out["teacher"]["latency_s"] / out["student"]["latency_s"]
    return out


# --------------------------------------------------------------------------- 3. distillation quality


def run_distillation(dataset: str, seeds: Sequence[int], recipe_names: Sequence[str] = RECIPE_NAMES,
                     runner: Callable[[str, str, int], recipes.RunResult] | None = None) -> dict:
    """``{recipe: [RunResult per seed]}`` for every recipe and seed on ``dataset``.

    ``runner(recipe, dataset, seed) -> (accuracy, errors)`` defaults to
    ``kdutils.recipes.run_recipe`` with ``kdutils.recipes.SETUPS[dataset]``: one teacher
    per seed, shared by all the student recipes of that seed.
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must not be empty, got seeds=[]")
    if runner is None:
        from kdutils import recipes as R

        setup = R.SETUPS[dataset]  # the library's setup per dataset (a CNN teacher on MNIST)

        def runner(recipe, _dataset, seed):
            return recipes.run_recipe(recipe, setup, seed)

    out: dict[str, list[recipes.RunResult]] = {r: [] for r in recipe_names}
    for seed in seeds:
        for r in recipe_names:
            out[r].append(runner(r, dataset, seed))
    return out


def run_scratch_tuned(dataset: str, seeds: Sequence[int], grid: Mapping[str, Sequence] = recipes.SCRATCH_GRID,
                      runner: Callable[[object, str, int], recipes.RunResult] | None = None) -> recipes.TunedScratch:
    """The scratch student tuned on validation (``kdutils.recipes.tune_scratch``) on ``dataset``, same seeds.

    ``runner(recipe, dataset, seed)`` as in ``run_distillation`` (default: ``run_recipe`` with
    ``SETUPS[dataset]``); every setting of ``grid`` runs on every seed.
    """
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must not be empty, got seeds=[]")
    setup = recipes.SETUPS[dataset]
    if runner is None:
        return recipes.tune_scratch(setup, seeds, grid)
    return recipes.tune_scratch(setup, seeds, grid, runner=lambda r, s: runner(r, dataset, s))


def distillation_table(runs: Mapping[str, Sequence[recipes.RunResult]], n_test: int | None = None,
                       scratch_tuned: recipes.TunedScratch | None = None) -> dict:
    """``kdutils.recipes.summary_table`` of ``run_distillation``'s runs, with each seed's accuracy and errors.

    Refuses runs without the ``teacher`` and ``scratch`` rows that the gap recovered needs. With
    ``scratch_tuned`` (``run_scratch_tuned``) the table gains a ``scratch_tuned`` row (its chosen
    ``settings``, ``grid_size``; no gap of its own) and every distillation row a
    ``gap_recovered_vs_tuned``: the gap recovered against the tuned baseline.
    """
    for need in ("teacher", "scratch"):
        if need not in runs:
            raise ValueError(f"runs must contain the {need!r} recipe, got recipes {sorted(runs)}")
    if "scratch_tuned" in runs:
        raise ValueError("runs must not contain 'scratch_tuned'; pass the tuned baseline as scratch_tuned=")
    table = recipes.summary_table(runs)
    candidates = [n for n in runs if n not in ("teacher", "scratch")]
    scored = all(not np.isnan(recipes.val_accuracies(runs[n])).any() for n in candidates)
    chosen = recipes.choose_on_validation({n: runs[n] for n in candidates}, exclude=()) if candidates and scored else None
    for name, row in table.items():
        val = recipes.val_accuracies(runs[name])
        row["mean_val_acc"] = float(np.mean(val)) if val and not np.isnan(val).any() else None
        row["chosen_on_validation"] = name == chosen
        row["accuracy_per_seed"] = recipes.accuracies(runs[name])
        row["test_errors_per_seed"] = [r.errors for r in runs[name]]
        if n_test is not None:
            row["n_test"] = n_test
    if scratch_tuned is not None:
        both = {**runs, "scratch_tuned": scratch_tuned.runs}
        vs_tuned = recipes.summary_table(both, scratch="scratch_tuned")
        row = dict(vs_tuned["scratch_tuned"], gap_recovered=None)
        val = recipes.val_accuracies(scratch_tuned.runs)
        row.update(mean_val_acc=float(np.mean(val)), chosen_on_validation=False,
                   accuracy_per_seed=recipes.accuracies(scratch_tuned.runs),
                   test_errors_per_seed=[r.errors for r in scratch_tuned.runs],
                   settings=scratch_tuned.settings(), grid_size=len(scratch_tuned.grid_runs))
        if n_test is not None:
            row["n_test"] = n_test
        for name in candidates:
            table[name]["gap_recovered_vs_tuned"] = vs_tuned[name]["gap_recovered"]
        table["scratch_tuned"] = row
    return table


# --------------------------------------------------------------------------- 1. book build

_EXECUTED = re.compile(r"(\S+?\.(?:md|ipynb)): Executed notebook in ([0-9.]+) seconds")


def slowest_pages(build_log: str, root: Path = ROOT, k: int = 5) -> list[dict]:
    """The ``k`` pages that took longest to execute, from myst-nb's "Executed notebook in N seconds" lines."""
    seen = {}
    for path, secs in _EXECUTED.findall(build_log):
        p = Path(path)
        try:
            p = p.resolve().relative_to(Path(root).resolve())
        except ValueError:
            pass
        seen[str(p)] = max(float(secs), seen.get(str(p), 0.0))
    ranked = sorted(seen.items(), key=lambda kv: -kv[1])[:k]
    return [{"page": page, "execution_s": secs} for page, secs in ranked]


def _jupyter_book(out_dir: Path, root: Path, config: Path | None = None, source: Path | None = None) -> tuple[float, str]:
    cmd = [str(BIN / "jupyter-book"), "build", str(source or root), "--builder", "html", "-W", "-n", "--keep-going",
           "--path-output", str(out_dir)] + (["--config", str(config)] if config else [])
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    secs = time.perf_counter() - t0
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"strict book build failed (exit {proc.returncode}):\n{log[-4000:]}")
    return secs, log


def _edition_configs(root: Path, out: Path) -> tuple[Path, Path]:
    """The English and the Chinese configuration as ``make book`` uses them, with ``out``'s own cache."""
    sys.path.insert(0, str(Path(root) / "book" / "_static" / "_ext"))
    try:
        import kd_edition_config as kec
    finally:
        sys.path.pop(0)
    cache = out / "jupyter_cache"
    en, zh = out / "en_config.yml", out / "zh_config.yml"
    kec.write_config(kec.english_config(root, cache=cache), en)
    kec.write_config(kec.edition_config(root, "zh", cache=cache), zh)
    return en, zh


def bench_book(root: Path = ROOT, on_step: Callable[[str], None] | None = None) -> dict:
    """Wall times of clean, cached and no-op builds of the book (strict, as ``make book``).

    The builds write to a temporary ``--path-output`` and a jupyter-cache of their own
    (generated configurations, ``book/_static/_ext/kd_edition_config.py``), so the user's
    ``_build`` and its execution cache are neither used nor touched:

    * clean: empty output directory and cache, so every notebook is executed (English), then
      the Chinese edition (``zh/``) into the same cache, as ``make book`` does: ``clean_build_s``
      is the English build, ``zh_extra_s`` the Chinese one, ``clean_build_both_s`` their sum;
      ``zh_notebooks_executed`` counts what the Chinese build executed (0 when its code cells
      are byte-identical to the English pages');
    * cached: HTML and Sphinx environment deleted, jupyter-cache kept, so every English
      page is re-read and rendered but no notebook is executed;
    * noop: nothing changed since the cached build.
    """
    step = on_step or (lambda _msg: None)
    out = Path(tempfile.mkdtemp(prefix="kd-bench-book-"))
    try:
        en_cfg, zh_cfg = _edition_configs(Path(root), out)
        step("book: clean build (English)")
        clean_s, clean_log = _jupyter_book(out / "en", root, en_cfg)
        step("book: clean build (中文版)")
        zh_s, zh_log = _jupyter_book(out / "zh", root, zh_cfg, source=Path(root) / "zh")
        html = out / "en" / "_build"
        n_pages = len(list((html / "html").rglob("*.html")))
        n_zh_pages = len(list((out / "zh" / "_build" / "html").rglob("*.html")))
        for sub in ("html", ".doctrees", "jupyter_execute"):
            shutil.rmtree(html / sub, ignore_errors=True)
        step("book: cached rebuild")
        cached_s, cached_log = _jupyter_book(out / "en", root, en_cfg)
        step("book: no-op rebuild")
        noop_s, _ = _jupyter_book(out / "en", root, en_cfg)
        executed_in_cached = _EXECUTED.findall(cached_log)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {
        "clean_build_s": clean_s,
        "clean_build_both_s": clean_s + zh_s,
        "zh_extra_s": zh_s,
        "cached_build_s": cached_s,
        "noop_build_s": noop_s,
        "html_files": n_pages,
        "zh_html_files": n_zh_pages,
        "notebooks_executed_clean": len(_EXECUTED.findall(clean_log)),
        "zh_notebooks_executed": len(_EXECUTED.findall(zh_log)),
        "notebooks_executed_cached": len(executed_in_cached),
        # Pages re-executed although the cache was kept: their source changed between the builds,
        # or jupyter-cache could not match them; 0 is expected on a quiet checkout.
        "pages_executed_in_cached_build": [p["page"] for p in slowest_pages(cached_log, root, k=len(executed_in_cached))],
        "slowest_pages": slowest_pages(clean_log, root),
    }


# --------------------------------------------------------------------------- 2. grading


def graded_releases() -> tuple[str, ...]:
    """The assignments whose autograde time is measured: the English ones, then their Chinese versions (issue 17)."""
    from kdutils import course
    from kdutils.course.translate import TRANSLATED

    return tuple(course.ASSIGNMENTS) + tuple(TRANSLATED)


def zh_over_en(per_nb: Mapping[str, float]) -> dict[str, float]:
    """Autograde time per Chinese notebook over the English one's (issue 17: within 10 %, i.e. at most 1.10)."""
    return {a: round(per_nb[f"{a}_zh"] / per_nb[a], 3) for a in per_nb if f"{a}_zh" in per_nb and per_nb[a] > 0}


def bench_grading(repeats: int = 3, demo: bool = True, on_step: Callable[[str], None] | None = None) -> dict:
    """nbgrader autograde time per notebook of each assignment (median of ``repeats``), and the demo class time.

    Works in a temporary course made by ``kdutils.course.make_course``: the
    assignments are generated, one complete submission per assignment (the
    catalogue's reference solution) is autograded ``repeats`` times, and its
    score is checked to be full marks. The demo class time is the wall time of
    ``python -m kdutils.course grade-demo`` (generate, autograde and feedback
    for every demo student), i.e. ``make grade-demo``.
    """
    from kdutils import course
    from kdutils.course import catalogue

    releases = graded_releases()
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an int >= 1, got repeats={repeats!r}")
    step = on_step or (lambda _msg: None)
    per_nb, samples, full = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="kd-bench-grading-") as tmp:
        c = course.make_course(Path(tmp))
        for a in releases:
            step(f"grading: generate {a}")
            course.nbgrader("generate_assignment", a, "--force", cwd=c)
            catalogue.write(catalogue.Submission("bench", a, "complete submission", full_marks=True), c)
            n_notebooks = len(list((c / "submitted" / "bench" / a).glob("*.ipynb")))
            times = []
            for i in range(repeats):
                step(f"grading: autograde {a} ({i + 1}/{repeats})")
                t0 = time.perf_counter()
                course.nbgrader("autograde", a, "--student", "bench", "--force", cwd=c)
                times.append(time.perf_counter() - t0)
            scores = course.read_scores(c, a).get("bench", {})
            got, maximum = sum(scores.values()), catalogue.max_points(c, a)
            if got != maximum:
                raise RuntimeError(f"the reference submission of {a!r} scored {got} / {maximum}, not full marks")
            full[a] = f"{got:g}/{maximum:g}"
            samples[a] = times
            per_nb[a] = statistics.median(times) / max(n_notebooks, 1)
    out = {"seconds_per_notebook": per_nb, "samples_s": samples, "repeats": repeats, "reference_score": full,
           "zh_over_en": zh_over_en(per_nb)}
    if demo:
        step("grading: demo class (make grade-demo)")
        env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONHASHSEED="0")
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "kdutils.course", "grade-demo"], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        out["demo_class_s"] = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"grade-demo failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        m = re.search(r"demo class: (\d+) students", proc.stdout)
        out["demo_class_students"] = int(m.group(1)) if m else None
    return out


# --------------------------------------------------------------------------- report


def _reexecuted(book: Mapping) -> str:
    pages = book.get("pages_executed_in_cached_build") or []
    return f"; {len(pages)} re-executed: " + ", ".join(f"`{p}`" for p in pages) if pages else ""


def provenance(results: Mapping) -> dict:
    """Where a run's figures come from: commit, date, load average at start and whether it was preliminary."""
    m = results.get("machine", {})
    return {"commit": m.get("git_commit"), "date_utc": m.get("date_utc"),
            "load_average_at_start": m.get("load_average_at_start"), "preliminary": results.get("preliminary")}


def render_markdown(results: Mapping) -> str:
    """The human-readable results table (``benchmarks/results.md``)."""
    m = results["machine"]
    lines = ["# Benchmark results", ""]
    if results.get("preliminary"):
        lines += [f"> **Preliminary**: {results['preliminary']}", ""]
    lines += [
        f"Generated by `make bench` (`benchmarks/run.py{' ' + results['args'] if results.get('args') else ''}`) "
        f"on {m.get('date_utc')}, commit `{m.get('git_commit')}`, in {results.get('total_s', 0) / 60:.1f} min.",
        "",
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gb')} GB RAM, no GPU; {m.get('os')}; "
        f"Python {m.get('python')}, torch {m.get('torch')} ({m.get('torch_threads')} thread(s) for the in-process "
        f"measurements); load average at start {m.get('load_average_at_start')}.",
        "",
    ]
    measured = results.get("measured")
    if measured:
        lines += ["Parts measured again since (`benchmarks/run.py --update PARTS`; the others are from the run above):",
                  "", "| part | commit | date (UTC) | load average at start | note |", "|---|---|---|---|---|"]
        lines += [f"| {part} | `{pv.get('commit')}` | {pv.get('date_utc')} | {pv.get('load_average_at_start')} "
                  f"| {pv.get('preliminary') or ''} |" for part, pv in measured.items()
                  if pv.get("commit") != m.get("git_commit") or pv.get("date_utc") != m.get("date_utc")]
        lines += [""]
    inst = results.get("install")
    if inst:
        lines += [f"Install: `make venv` builds a **{inst['venv_mb']:.0f} MB** venv (du) in {inst.get('venv_s', 0):.0f} s, "
                  f"torch {inst.get('torch')} ({inst.get('torch_source')}).", ""]
    b = results.get("book")
    if b:
        lines += ["## 1. Book build", "",
                  "| build | wall time |", "|---|---|",
                  f"| clean (every notebook executed, {b.get('notebooks_executed_clean')} notebooks) | {b['clean_build_s']:.1f} s |",
                  f"| 中文版 after it (same jupyter-cache, {b.get('zh_notebooks_executed')} notebooks executed) "
                  f"| {b['zh_extra_s']:.1f} s |",
                  f"| **clean build of both editions** (`make book` on a fresh clone) | **{b['clean_build_both_s']:.1f} s** |",
                  f"| cached rebuild (HTML re-rendered, notebooks from jupyter-cache"
                  f"{_reexecuted(b)}) | {b['cached_build_s']:.1f} s |",
                  f"| no-op rebuild | {b.get('noop_build_s', 0):.1f} s |", "",
                  *([f"PDF (`make pdf`): **{b['pdf_pages']} pages** in {b['pdf_build_s']:.1f} s"
                     + (f"; 中文版 **{b['pdf_pages_zh']} pages** in {b['pdf_build_s_zh']:.1f} s"
                        if b.get("pdf_pages_zh") is not None else "") + ".", ""]
                    if b.get("pdf_pages") is not None else []),
                  "Slowest pages to execute (clean build):", "",
                  "| page | execution |", "|---|---|"]
        lines += [f"| `{p['page']}` | {p['execution_s']:.1f} s |" for p in b.get("slowest_pages", [])]
        lines.append("")
    g = results.get("grading")
    if g:
        lines += ["## 2. Grading (nbgrader autograde)", "",
                  f"| assignment | seconds per notebook (median of {g.get('repeats')}) | reference score |", "|---|---|---|"]
        for a, s in g["seconds_per_notebook"].items():
            lines.append(f"| `{a}` | {s:.1f} s | {g.get('reference_score', {}).get(a, '')} |")
        lines.append("")
        if g.get("zh_over_en"):
            lines += ["Chinese releases (issue 17), time per notebook over the English one's: "
                      + ", ".join(f"`{a}_zh` {r:.2f}×" for a, r in g["zh_over_en"].items()) + ".", ""]
        if g.get("demo_class_s") is not None:
            lines += [f"Demo class (`make grade-demo`, {g.get('demo_class_students')} students, both assignments, "
                      f"with feedback): **{g['demo_class_s']:.1f} s**.", ""]
        c = g.get("class")
        if c:
            bn = g.get("batch_seconds_per_notebook", {})
            lines += [f"Class of {c['students']} synthetic students from the submission catalogue, both assignments "
                      "(`python -m kdutils.course autograde --jobs N`):", "",
                      "| configuration | wall time | students per minute |", "|---|---|---|",
                      f"| SQLite, 1 job | {c['jobs1_s']:.1f} s | {c.get('students_per_minute_jobs1', 0):.2f} |",
                      f"| SQLite, 2 jobs | {c['jobs2_s']:.1f} s | {c.get('students_per_minute_jobs2', 0):.2f} |"]
            if c.get("postgres_s") is not None:
                lines.append(f"| PostgreSQL, 2 jobs | {c['postgres_s']:.1f} s | "
                             f"{c['students'] / c['postgres_s'] * 60:.2f} |")
            lines += ["", f"Speed-up at 2 jobs: **{c['speedup']:.2f}×**; per notebook in the 2-job batch: "
                      + ", ".join(f"`{a}` {v:.1f} s" for a, v in bn.items())
                      + f"; extrapolated time for 200 students: **{c['extrapolated_200_students_s'] / 60:.0f} min**; "
                      f"same scores in every configuration: {c.get('same_scores')}.", ""]
        bd, st = g.get("breakdown"), g.get("breakdown_stock")
        if isinstance(bd, Mapping) and bd:
            order = ["nbgrader_start_s", "database_and_preprocessing_s", "kernel_start_s",
                     "setup_cell_import_torch_kdutils_s", "worker_import_torch_wait_s", "cells_s",
                     "kernel_shutdown_and_save_grades_s", "exit_s", "autograde_total_s", "feedback_s",
                     "python_import_torch_s"]
            found = {k for v in bd.values() if isinstance(v, Mapping) for k in v}
            phases = [k for k in order if k in found] + sorted(found - set(order))
            cols = [(a, "batch", bd[a]) for a in bd]
            if isinstance(st, Mapping) and st:
                cols = [c for a in bd for c in ((a, "stock", st.get(a, {})), (a, "batch", bd[a]))]
                lines += ["Where one autograde spends its time (seconds). *stock*: `nbgrader autograde` alone, a fresh "
                          "kernel and its own grading worker; *batch*: as `python -m kdutils.course autograde` runs it, "
                          "the kernel forked from the run's zygote (torch, `torch._dynamo`, scikit-learn and ipykernel "
                          "imported once) and the run's shared grading worker (median of "
                          f"{g.get('class', {}).get('profile_repeats', 3)}):", ""]
            else:
                lines += ["Where one autograde spends its time (seconds):", ""]
            lines += ["| phase | " + " | ".join(f"`{a}` {how}" for a, how, _ in cols) + " |",
                      "|---|" + "---|" * len(cols)]
            for ph in phases:
                cells = [v.get(ph) if isinstance(v, Mapping) else None for _, _, v in cols]
                lines.append(f"| {ph} | " + " | ".join("–" if not isinstance(x, (int, float)) else f"{x:.2f}"
                                                    for x in cells) + " |")
            lines.append("")
        ft = g.get("final_task")
        if ft:
            n_seeds = len(ft.get("seeds", []))
            margins = (f"labels alone reach at most **{ft['scratch_max']:.4f}**, distillation at least "
                       f"**{ft['kd_min']:.4f}**; the bar is **{ft['threshold']}**.")
            lines += [f"Final task of `training` over {n_seeds} seeds: {margins}", ""]
    d = results.get("distillation")
    if d:
        lines += ["## 3. Distillation quality", "",
                  "Same teacher, transfer set and seeds for every student recipe (`kdutils.recipes`); "
                  "the student sees 10 labelled examples per class. Gap recovered = "
                  "(err_scratch − err_kd) / (err_scratch − err_teacher), on mean test errors.", ""]
        for ds, table in d.items():
            any_row = next(iter(table.values()))
            n_test = any_row.get("n_test")
            lines += [f"### {ds} ({len(any_row['seeds'])} seeds{f', {n_test} test images' if n_test else ''})", ""]
            setup = recipes.SETUPS.get(ds)
            if setup is not None:
                lines += [f"Teacher: {'the small CNN' if setup.teacher_kind == 'cnn' else 'the 512-512 MLP'} "
                          f"(`kdutils.models.teacher_config(kind={setup.teacher_kind!r})`), {setup.teacher.epochs} epochs"
                          f"{' with one-pixel shifts' if getattr(setup.teacher, 'shift', 0) else ''}, on the whole "
                          "training split; students: one-hidden-layer MLPs.", ""]
            tuned = table.get("scratch_tuned")
            if tuned:  # the scratch baseline tuned on validation: one more column
                lines += ["| recipe | validation accuracy (mean) | test accuracy (mean ± std) | test errors (mean) | gap recovered "
                          "| gap recovered, tuned baseline |", "|---|---|---|---|---|---|"]
            else:
                lines += ["| recipe | validation accuracy (mean) | test accuracy (mean ± std) | test errors (mean) | gap recovered |",
                          "|---|---|---|---|---|"]
            for r, row in table.items():
                if row:
                    gap = "–" if row["gap_recovered"] is None else f"{100 * row['gap_recovered']:.0f} %"
                    val = "–" if row.get("mean_val_acc") is None else f"{row['mean_val_acc']:.4f}"
                    name = f"**{r}** (chosen on validation)" if row.get("chosen_on_validation") else r
                    cells = f"| {name} | {val} | {row['mean_acc']:.4f} ± {row['std_acc']:.4f} | {row['test_errors']:.1f} | {gap} |"
                    if tuned:
                        g = row.get("gap_recovered_vs_tuned")
                        cells += " – |" if g is None else f" {100 * g:.0f} % |"
                    lines.append(cells)
            lines.append("")
            if tuned:
                st = ", ".join(f"{k} {v:g}" for k, v in tuned["settings"].items())
                lines += [f"`scratch_tuned`: the scratch student with its regularisation and length chosen on validation "
                          f"from {tuned['grid_size']} settings (`kdutils.recipes.SCRATCH_GRID`): {st}.", ""]
        h = HINTON_2015_MNIST
        lines += [f"Reference, Hinton et al. (2015), full MNIST (10,000 test images): teacher {h['teacher_errors']}, "
                  f"scratch {h['scratch_errors']}, distilled {h['kd_errors']} errors, i.e. "
                  f"{100 * h['gap_recovered']:.0f} % of the gap recovered.", ""]
    c = results.get("compression")
    if c:
        lines += ["## 4. Compression", "",
                  f"{c['dataset']} models, batch of {c['batch_size']}, median over {c['timed_passes_per_model']} "
                  "forward passes each, timed in alternating rounds.", "",
                  "| model | parameters | bytes | batch latency |", "|---|---|---|---|"]
        for name in ("teacher", "student"):
            x = c[name]
            lines.append(f"| {name} | {x['parameters']:,} | {x['bytes']:,} | {1e3 * x['latency_s']:.3f} ms |")
        lines += ["", f"Teacher ÷ student: **{c['param_ratio']:.1f}×** parameters, **{c['latency_ratio']:.1f}×** latency.", ""]
    lo = results.get("losses")
    if lo:
        lines += ["## 5. Library hot path", "",
                  f"`kd_kl_loss` forward + backward on a {tuple(lo['shape'])} batch, median of {lo['repeats']}:", "",
                  "| implementation | time | finite at logits ±1e4 |", "|---|---|---|",
                  f"| `kdutils.losses.kd_kl_loss` (log_softmax) | {1e3 * lo['kd_kl_loss_s']:.1f} ms | {lo['kd_kl_loss_finite_at_1e4']} |",
                  f"| PyTorch's idiom `F.kl_div(F.log_softmax(s/T), F.log_softmax(t/T), log_target=True) * T*T` | {1e3 * lo['torch_idiom_s']:.1f} ms ({lo['kd_kl_loss_vs_torch_idiom']:.2f}x for kd_kl_loss) | - |",
                  f"| naive `log(softmax(.))` | {1e3 * lo['naive_s']:.1f} ms | {lo['naive_finite_at_1e4']} |", "",
                  f"Largest difference on ordinary logits: loss {lo['max_abs_loss_diff']:.2e}, gradient {lo['max_abs_grad_diff']:.2e}.", ""]
    t = results.get("tests")
    if t:
        lines += ["## Test tiers on a fresh clone", "",
                  f"Commit `{t.get('commit')}`: `make test` (venv included) **{t['make_test_s'] / 60:.1f} min**; "
                  f"the full tier after it {t.get('full_tier_s', 0) / 60:.1f} min; `make test-all` (what CI runs) "
                  f"at most **{t['make_test_all_s'] / 60:.1f} min** (`benchmarks/testtime.py`).", ""]
    lmr = results.get("lm")
    if lmr:
        lines += ["## 6. Distilling language models", "",
                  f"The chapter's comparison (`kdutils.lm`, {len(lmr['seeds'])} seeds, one teacher trained in "
                  f"{lmr['teacher_seconds']:.0f} s; {lmr['seconds']:.0f} s in all). Exact metrics: valid samples, true "
                  "log p of valid samples and the student's NLL of held-out true responses (nats per response).", "",
                  "| method | valid | sample log p | true NLL | distinct | teacher tokens | student tokens | s |",
                  "|---|---|---|---|---|---|---|---|"]
        from kdutils import lm

        for method in lm.METHODS:
            row = lmr[method]
            f = lambda m, d=2, s=1.0: f"{s * row[m]['mean']:.{d}f} ± {s * row[m]['std']:.{d}f}"  # noqa: E731
            lines.append(f"| {method} | {f('validity', 1, 100)} % | {f('sample_logp')} | {f('true_nll')} | "
                         f"{f('distinct', 1, 100)} % | {row['teacher_tokens']['mean']:,.0f} | "
                         f"{row['student_tokens']['mean']:,.0f} | {f('seconds', 1)} |")
        lines.append("")
    return "\n".join(lines)


def write_results(results: Mapping, out_dir: Path, parts: Iterable[str] = PARTS,
                  optional: Iterable[str] = ()) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.md`` into ``out_dir``.

    Results that miss required keys are not written as such: they are saved to
    ``results.partial.json`` (so a long run is not lost) and ``ValueError`` is raised.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    problems = validate_results(results, parts, optional)
    if problems:
        partial = out_dir / "results.partial.json"
        partial.write_text(json.dumps(results, indent=2) + "\n")
        raise ValueError(f"results do not match the schema (saved to {partial}): " + "; ".join(problems))
    j, md = out_dir / "results.json", out_dir / "results.md"
    j.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    md.write_text(render_markdown(results))
    return j, md
