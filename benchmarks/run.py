"""``make bench``: measure the book build, nbgrader grading, distillation quality, compression, loss speed and LM distillation.

Writes ``benchmarks/results.json`` (machine-readable; keys documented in
``kdbench.REQUIRED_KEYS``) and ``benchmarks/results.md`` (the table the README
links to), with the machine they were measured on. Takes under 15 minutes on
a quiet 2-core CPU. ``--quick`` is a smoke run (fewer seeds and repeats) that
writes to ``_build/bench-quick/`` (as does any reduced run) so it never overwrites the committed results.

    python benchmarks/run.py            # the full benchmark (make bench)
    python benchmarks/run.py --quick    # a fast smoke run
    python benchmarks/run.py --skip book,grading   # only the in-process parts
    python benchmarks/run.py --update losses       # measure again only these parts of the committed results

``--update`` keeps the other parts of ``benchmarks/results.json`` and records, per part, the commit, date,
machine load and whether the run was preliminary (``measured``), so the table says which parts come from
which run.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import classbench  # noqa: E402  (benchmarks/classbench.py)
import final_task  # noqa: E402  (benchmarks/final_task.py)
import kdbench  # noqa: E402  (benchmarks/kdbench.py)
import testtime  # noqa: E402  (benchmarks/testtime.py)

PARTS = kdbench.PARTS
FULL = {"class_students": 40, "seeds": 5, "datasets": ("digits", "mnist"), "grading_repeats": 3, "latency_rounds": 10, "loss_repeats": 20}
QUICK = {"class_students": 4, "seeds": 2, "datasets": ("digits",), "grading_repeats": 1, "latency_rounds": 3, "loss_repeats": 5}


class Progress:
    """One tqdm bar over every step of the run; ``start(msg)`` closes the previous step."""

    def __init__(self, total: int):
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="step", dynamic_ncols=True, file=sys.stderr)
        self.open = False

    def start(self, msg: str) -> None:
        if self.open:
            self.bar.update(1)
        self.bar.set_description(msg[:60])
        self.open = True

    def close(self) -> None:
        if self.open:
            self.bar.update(1)
        self.bar.close()


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 2 seeds on digits, 1 grading repeat")
    p.add_argument("--seeds", type=int, default=None, help="seeds per recipe (default 5; at least 5 for the report)")
    p.add_argument("--skip", default="", help=f"comma-separated parts to leave out, of {','.join(PARTS)}")
    p.add_argument("--no-demo", action="store_true", help="do not time the demo class (make grade-demo)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads for the in-process parts (default 1: stable timings on a shared 2-core CPU)")
    p.add_argument("--preliminary", default=None, metavar="REASON",
                   help="mark a full run as preliminary (e.g. measured on a busy machine); it still writes benchmarks/")
    p.add_argument("--update", default="", metavar="PARTS",
                   help=f"comma-separated parts to measure again into the committed results, keeping the others "
                        f"(of {','.join(PARTS)})")
    p.add_argument("--out", type=Path, default=None,
                   help="output directory (default benchmarks/, or _build/bench-quick/ with --quick)")
    args = p.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - set(PARTS)
    if unknown:
        p.error(f"--skip got unknown parts {sorted(unknown)}; choose from {PARTS}")
    args.skip = skip
    update = {s.strip() for s in args.update.split(",") if s.strip()}
    if update - set(PARTS):
        p.error(f"--update got unknown parts {sorted(update - set(PARTS))}; choose from {PARTS}")
    if update and (skip or args.quick):
        p.error("--update measures the named parts in full; it cannot be combined with --skip or --quick")
    args.update = update
    if args.seeds is not None and args.seeds < 1:
        p.error(f"--seeds must be >= 1, got {args.seeds}")
    if args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    cfg = dict(QUICK if args.quick else FULL)
    if args.seeds is not None:
        cfg["seeds"] = args.seeds
    seeds = list(range(cfg["seeds"]))
    parts = [p for p in (PARTS if args.update else kdbench.DEFAULT_PARTS)
             if p not in args.skip and (not args.update or p in args.update)]
    reduced = args.quick or bool(args.skip) or args.no_demo or cfg["seeds"] < 5
    # A reduced run never overwrites the committed benchmarks/results.* unless --out says so.
    out_dir = args.out or (kdbench.ROOT / "_build" / "bench-quick" if reduced else Path(__file__).resolve().parent)

    n_recipes = len(kdbench.RECIPE_NAMES)
    steps = {
        "install": 1,
        "book": 3,
        "grading": 2 * (1 + cfg["grading_repeats"]) + (0 if args.no_demo else 1) + 6,
        "distillation": len(cfg["datasets"]) * len(seeds) * (n_recipes + len(kdbench.recipes.scratch_grid())),
        "compression": 1,
        "losses": 1,
        "tests": 1,
        "lm": 1,
    }
    progress = Progress(sum(steps[p] for p in parts))
    results: dict = {"machine": kdbench.machine_info()}
    committed = Path(__file__).resolve().parent / "results.json"
    if args.update:
        import json

        previous = json.loads(committed.read_text())
        earlier = {p: previous.get("measured", {}).get(p) or kdbench.provenance(previous) for p in PARTS}
        results = {k: v for k, v in previous.items() if k != "measured"}
        results["measured"] = earlier
    argv_list = list(sys.argv[1:] if argv is None else argv)
    flags = " ".join("--preliminary …" if a == "--preliminary" else a for i, a in enumerate(argv_list)
                     if i == 0 or argv_list[i - 1] != "--preliminary")
    if flags and not args.update:
        results["args"] = flags
    if reduced:
        results["preliminary"] = (f"a reduced run ({flags or 'custom'}); not the committed benchmark, "
                                  "which is a full `make bench` on a quiet machine")
    elif args.preliminary and not args.update:
        results["preliminary"] = args.preliminary
    t_start = time.perf_counter()
    try:
        if "install" in parts:
            progress.start("install: make venv into a new directory")
            results["install"] = bench_install()
        if "book" in parts:
            results["book"] = kdbench.bench_book(on_step=progress.start)
            results["book"].update(bench_pdf())
        if "grading" in parts:
            results["grading"] = kdbench.bench_grading(cfg["grading_repeats"], demo=not args.no_demo,
                                                       on_step=progress.start)
            # the class-size benchmark: grading.{batch_seconds_per_notebook, class, breakdown}
            results["grading"].update(classbench.bench_class(cfg["class_students"], on_step=progress.start))
            # the training assignment's final task: labels alone vs distillation over the seeds
            progress.start("grading: final task margins")
            results["grading"]["final_task"] = final_task.measure(seeds=range(cfg["seeds"]))
        if "distillation" in parts:
            from kdutils import recipes as R

            results["distillation"] = {}
            for ds in cfg["datasets"]:
                runs = kdbench.run_distillation(ds, seeds, runner=_with_progress(progress, R))
                # the scratch baseline tuned on validation, with the same runner (setup, progress) as the rows above
                tuned = kdbench.run_scratch_tuned(ds, seeds, runner=_with_progress(progress, R))
                n_test = len(R.get_splits(ds).y_test)
                results["distillation"][ds] = kdbench.distillation_table(runs, n_test=n_test, scratch_tuned=tuned)
            results["distillation_reference"] = {"hinton2015_mnist": kdbench.HINTON_2015_MNIST}
        if "compression" in parts:
            progress.start("compression: teacher vs student latency")
            results["compression"] = kdbench.bench_compression("digits", rounds=cfg["latency_rounds"])
        if "losses" in parts:
            progress.start("losses: kd_kl_loss vs naive, (4096, 1000)")
            results["losses"] = kdbench.bench_losses(repeats=cfg["loss_repeats"])
        if "tests" in parts:
            progress.start("tests: make test and the full tier on a fresh clone")
            results["tests"] = testtime.measure()
        if "lm" in parts:
            progress.start("lm: the chapter 'Distilling language models', every method and seed")
            results["lm"] = kdbench.bench_lm(seeds=range(min(cfg["seeds"], 3) if args.quick else 3))
    finally:
        progress.close()
    results["total_s"] = time.perf_counter() - t_start
    if args.update:
        now = kdbench.provenance({"machine": kdbench.machine_info(), "preliminary": args.preliminary})
        results["measured"].update({p: now for p in parts})
        results["total_s"] = previous.get("total_s", results["total_s"])  # the header describes the base run

    if not args.update and "tests" not in parts and committed.exists():  # carried over, with where it comes from
        import json

        previous = json.loads(committed.read_text())
        if "tests" in previous:
            results["tests"] = previous["tests"]
            results.setdefault("measured", {})["tests"] = (previous.get("measured", {}).get("tests")
                                                          or kdbench.provenance(previous))
            parts = [*parts, "tests"]
    optional = ["grading.demo_class_s"] if args.no_demo else []
    j, md = kdbench.write_results(results, out_dir, list(PARTS) if args.update else parts, optional)
    print(kdbench.render_markdown(results))
    print(f"\nwrote {j} and {md} in {results['total_s'] / 60:.1f} min")
    if results["total_s"] > 15 * 60 and not args.quick:
        print("warning: the benchmark took longer than its 15-minute budget", file=sys.stderr)
    return 0


def bench_pdf() -> dict:
    """``make pdf`` in the checkout: pages and the time of the single-page build plus Chromium's print,
    for the English PDF (``pdf_pages``, ``pdf_build_s``) and the Chinese one (``pdf_pages_zh``, ``pdf_build_s_zh``)."""
    import json
    import subprocess

    root = Path(__file__).resolve().parents[1]
    subprocess.run(["make", "--no-print-directory", "pdf"], cwd=root, check=True, capture_output=True)
    meta = json.loads((root / "_build" / "pdf" / "book.json").read_text())
    zh = json.loads((root / "_build" / "pdf" / "book_zh.json").read_text(encoding="utf-8"))
    return {"pdf_pages": meta["pages"], "pdf_build_s": meta["build_s"],
            "pdf_pages_zh": zh["pages"], "pdf_build_s_zh": zh["build_s"]}


def bench_install() -> dict:
    """``make venv`` into a new directory (what a fresh clone gets: the lock file, CPU-only torch), then ``du``.

    ``venv_mb`` is measured right after the install; byte-code caches that Python writes later are not in it.
    """
    import shutil
    import subprocess
    import tempfile

    root = Path(__file__).resolve().parents[1]
    venv = Path(tempfile.mkdtemp(prefix="kd-bench-venv-")) / "venv"
    try:
        t0 = time.perf_counter()
        proc = subprocess.run(["make", "--no-print-directory", f"VENV={venv}", f"PYTHON={sys.executable}", "venv"],
                              cwd=root, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"make venv failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
        mb = int(subprocess.run(["du", "-sm", str(venv)], capture_output=True, text=True, check=True).stdout.split()[0])
        torch_line = next((line for line in proc.stdout.splitlines() if line.startswith("torch ")), "torch ?")
        source = "from the configured index: PyTorch's CPU index was unreachable" if "unreachable" in proc.stdout \
            else "from PyTorch's CPU index"
        return {"venv_mb": mb, "venv_s": seconds, "torch": torch_line.split()[1], "torch_source": source}
    finally:
        shutil.rmtree(venv.parent, ignore_errors=True)


def _with_progress(progress: Progress, R):
    """A ``kdbench.run_distillation`` runner that advances the bar before each recipe and seed."""
    setups = {}

    def runner(recipe, dataset: str, seed: int):
        name = recipe if isinstance(recipe, str) else f"{recipe.name} wd={recipe.weight_decay:g} ls={recipe.label_smoothing:g} e={recipe.epochs}"
        progress.start(f"distillation: {dataset} {name} seed {seed}")
        setup = setups.setdefault(dataset, R.Setup(dataset=dataset))
        return R.run_recipe(recipe, setup, seed)

    return runner


if __name__ == "__main__":
    sys.exit(main())
