"""Fast checks of the benchmark's pure functions and of the results schema (``make bench`` itself is not run here)."""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import kdbench  # noqa: E402
import run as bench_run  # noqa: E402

import kdutils as kd  # noqa: E402


def _row(acc, errors, gap=None, seeds=(0, 1, 2, 3, 4)):
    return {"mean_acc": acc, "std_acc": 0.01, "test_errors": errors, "gap_recovered": gap, "seeds": list(seeds)}


def complete_results() -> dict:
    """A synthetic results dict with every documented key (the values are made up, only the shape matters)."""
    table = {"teacher": _row(0.98, 9), "scratch": _row(0.89, 50), "high_T8": _row(0.96, 17, 0.8),
             "pytorch_tutorial": _row(0.94, 28, 0.5), "keras_example": _row(0.96, 16, 0.83)}
    return {
        "machine": {"cpu": "test", "cores": 2, "date_utc": "today", "git_commit": "abc"},
        "install": {"venv_mb": 1600.0, "venv_s": 60.0, "torch": "2.13.0+cpu", "torch_source": "from PyTorch's CPU index"},
        "book": {"clean_build_s": 100.0, "clean_build_both_s": 112.5, "zh_extra_s": 12.5, "zh_notebooks_executed": 0,
                 "cached_build_s": 20.0, "noop_build_s": 5.0, "notebooks_executed_clean": 3,
                 "slowest_pages": [{"page": "book/a.md", "execution_s": 9.0}], "pdf_pages": 95, "pdf_build_s": 44.0,
                 "pdf_pages_zh": 90, "pdf_build_s_zh": 40.0},
        "grading": {"seconds_per_notebook": {"losses": 10.0, "training": 20.0, "losses_zh": 10.2, "training_zh": 19.8},
                    "zh_over_en": {"losses": 1.02, "training": 0.99}, "demo_class_s": 120.0, "repeats": 3,
                    "reference_score": {"losses": "18/18", "training": "10/10"}, "demo_class_students": 12,
                    "batch_seconds_per_notebook": {"losses": 4.0, "training": 5.0},
                    "class": {"students": 40, "jobs1_s": 400.0, "jobs2_s": 220.0, "speedup": 1.82,
                              "extrapolated_200_students_s": 1100.0, "postgres_s": 215.0, "sqlite_s": 220.0,
                              "students_per_minute_jobs1": 6.0, "students_per_minute_jobs2": 10.9, "same_scores": True},
                    "breakdown": {"losses": {"kernel start": 1.5}, "training": {"kernel start": 1.6}},
                    "final_task": {"scratch_max": 0.9, "kd_min": 0.944, "threshold": 0.92, "seeds": [0, 1, 2, 3, 4]}},
        "distillation": {"digits": table},
        "compression": {"dataset": "digits", "batch_size": 8, "timed_passes_per_model": 4,
                        "teacher": {"parameters": 100, "bytes": 400, "latency_s": 0.002},
                        "student": {"parameters": 10, "bytes": 40, "latency_s": 0.001},
                        "param_ratio": 10.0, "bytes_ratio": 10.0, "latency_ratio": 2.0},
        "losses": {"shape": [4096, 1000], "repeats": 3, "kd_kl_loss_s": 0.1, "naive_s": 0.12, "torch_idiom_s": 0.098, "kd_kl_loss_vs_torch_idiom": 1.02,
                   "max_abs_loss_diff": 0.0, "max_abs_grad_diff": 0.0,
                   "kd_kl_loss_finite_at_1e4": True, "naive_finite_at_1e4": False},
        "tests": {"commit": "abc1234", "make_test_s": 660.0, "full_tier_s": 1800.0, "make_test_all_s": 2460.0},
        "total_s": 600.0,
    }


# --------------------------------------------------------------------------- schema


def test_complete_results_validate():
    assert kdbench.validate_results(complete_results()) == []


@pytest.mark.parametrize("key", kdbench.REQUIRED_KEYS + kdbench.TESTS_KEYS)
def test_each_required_key_is_checked(key):
    res = complete_results()
    *parents, last = key.split(".")
    node = res
    for p in parents:
        node = node[p]
    del node[last]
    problems = kdbench.validate_results(res)
    assert any(key in p for p in problems), problems


@pytest.mark.parametrize("recipe", kdbench.RECIPE_NAMES)
def test_each_recipe_row_is_checked(recipe):
    res = complete_results()
    del res["distillation"]["digits"][recipe]
    assert kdbench.validate_results(res) == [f"distillation.digits.{recipe} is missing"]
    res = complete_results()
    del res["distillation"]["digits"][recipe]["gap_recovered"]
    assert kdbench.validate_results(res) == [f"distillation.digits.{recipe}.gap_recovered is missing"]


def test_validation_rejects_bad_values_and_honours_parts():
    res = complete_results()
    res["book"]["clean_build_s"] = "fast"
    res["losses"]["naive_s"] = -1.0
    problems = kdbench.validate_results(res)
    assert len(problems) == 2 and "book.clean_build_s" in problems[0] and "losses.naive_s" in problems[1]
    partial = {"machine": {"cpu": "x"}, "losses": complete_results()["losses"]}
    assert kdbench.validate_results(partial, parts=["losses"]) == []
    assert kdbench.validate_results(partial)  # the full schema still wants everything
    with pytest.raises(ValueError, match="parts"):
        kdbench.validate_results(partial, parts=["nope"])


def test_write_results_refuses_incomplete_and_writes_json_and_markdown(tmp_path):
    res = complete_results()
    broken = copy.deepcopy(res)
    del broken["grading"]["demo_class_s"]
    with pytest.raises(ValueError, match="grading.demo_class_s"):
        kdbench.write_results(broken, tmp_path)
    assert json.loads((tmp_path / "results.partial.json").read_text()) == broken  # a long run is never lost
    assert not (tmp_path / "results.json").exists()
    j, md = kdbench.write_results(broken, tmp_path / "nodemo", optional=["grading.demo_class_s"])
    assert "Demo class" not in md.read_text()
    j, md = kdbench.write_results(res, tmp_path)
    assert json.loads(j.read_text()) == res
    text = md.read_text()
    assert text == kdbench.render_markdown(res)
    for needle in ("| clean (every notebook executed, 3 notebooks) | 100.0 s |",
                   "| 中文版 after it (same jupyter-cache, 0 notebooks executed) | 12.5 s |",
                   "| **clean build of both editions** (`make book` on a fresh clone) | **112.5 s** |", "| `losses` | 10.0 s | 18/18 |",
                   "| high_T8 | – | 0.9600 ± 0.0100 | 17.0 | 80 % |", "| teacher | – | 0.9800 ± 0.0100 | 9.0 | – |",
                   "teacher 67, scratch 146, distilled 74 errors, i.e. 91 % of the gap",
                   "**10.0×** parameters, **2.0×** latency", "PDF (`make pdf`): **95 pages** in 44.0 s; 中文版 **90 pages** in 40.0 s.",
                   "Speed-up at 2 jobs: **1.82×**", "extrapolated time for 200 students: **18 min**",
                   "| PostgreSQL, 2 jobs | 215.0 s |", "| kernel start | 1.50 | 1.60 |",
                   "labels alone reach at most **0.9000**, distillation at least **0.9440**; the bar is **0.92**", "12 students, both assignments, with feedback): **120.0 s**", "| naive `log(softmax(.))` | 120.0 ms | False |"):
        assert needle in text, needle


# --------------------------------------------------------------------------- distillation summary


def _runs(rows, val=None):
    return [kd.recipes.RunResult("r", seed, acc, errors, [], None, *(() if val is None else (val,)))
            for seed, acc, errors in rows]


def test_distillation_table_is_the_librarys_summary_with_per_seed_figures():
    runs = {
        "teacher": _runs([(0, 0.98, 10), (1, 0.97, 12)]),
        "scratch": _runs([(0, 0.88, 50), (1, 0.87, 52)]),
        "recommended": _runs([(0, 0.95, 20), (1, 0.94, 22)]),
        "worse": _runs([(0, 0.85, 60), (1, 0.85, 60)]),
    }
    t = kdbench.distillation_table(runs, n_test=450)
    assert t["teacher"]["gap_recovered"] is None and t["scratch"]["gap_recovered"] is None
    assert t["recommended"]["test_errors"] == 21.0
    assert t["recommended"]["gap_recovered"] == pytest.approx((51 - 21) / (51 - 11))
    assert t["worse"]["gap_recovered"] < 0  # KD that hurts is reported, not clipped
    assert t["recommended"]["mean_acc"] == pytest.approx(0.945)
    assert t["recommended"]["std_acc"] == pytest.approx(0.0070710678)
    assert t["recommended"]["seeds"] == [0, 1] and t["recommended"]["n_test"] == 450
    assert t["recommended"]["test_errors_per_seed"] == [20, 22]
    assert t["recommended"]["accuracy_per_seed"] == [0.95, 0.94]
    summary = kd.recipes.summary_table(runs)
    assert all(t[r][k] == v for r in runs for k, v in summary[r].items())  # no second implementation
    with pytest.raises(ValueError, match="teacher"):
        kdbench.distillation_table({"scratch": runs["scratch"]})


def test_distillation_table_marks_the_recipe_validation_chose_not_the_best_on_test():
    runs = {
        "teacher": _runs([(0, 0.98, 10)], val=0.97),
        "scratch": _runs([(0, 0.88, 50)], val=0.87),
        "best_on_test": _runs([(0, 0.96, 18)], val=0.90),
        "best_on_val": _runs([(0, 0.95, 20)], val=0.93),
    }
    t = kdbench.distillation_table(runs)
    assert t["best_on_val"]["chosen_on_validation"] and not t["best_on_test"]["chosen_on_validation"]
    assert t["best_on_val"]["mean_val_acc"] == pytest.approx(0.93)
    res = complete_results()
    res["distillation"] = {"digits": t}
    assert "| **best_on_val** (chosen on validation) | 0.9300 |" in kdbench.render_markdown(res)


def test_hinton_reference_figures():
    h = kdbench.HINTON_2015_MNIST
    assert (h["teacher_errors"], h["scratch_errors"], h["kd_errors"]) == (67, 146, 74)
    assert round(100 * h["gap_recovered"]) == 91


def test_run_distillation_calls_every_recipe_for_every_seed():
    calls = []

    def runner(recipe, dataset, seed):
        calls.append((recipe, dataset, seed))
        return kd.recipes.RunResult(recipe, seed, 0.5 + seed / 10, 10 * seed + len(recipe), [], None)

    out = kdbench.run_distillation("digits", [3, 4], runner=runner)
    assert kdbench.RECIPE_NAMES == ("teacher", "scratch", *kd.recipes.CANDIDATES) and set(out) == set(kdbench.RECIPE_NAMES)
    assert len(calls) == 2 * len(kdbench.RECIPE_NAMES) and {c[1] for c in calls} == {"digits"}
    assert [(r.seed, r.accuracy, r.errors) for r in out["scratch"]] == [(3, 0.8, 37), (4, 0.9, 47)]
    with pytest.raises(ValueError, match="seeds"):
        kdbench.run_distillation("digits", [], runner=runner)


# --------------------------------------------------------------------------- losses, compression, timing


def test_naive_loss_matches_reference_but_overflows():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(16, 7, generator=g), torch.randn(16, 7, generator=g)
    for T in (1.0, 4.0):
        assert kdbench.naive_kd_kl_loss(s, t, T).item() == pytest.approx(kd.losses.kd_kl_loss(s, t, T).item(), abs=1e-5)
    big_s, big_t = s * 1e4, t * 1e4
    assert not torch.isfinite(kdbench.naive_kd_kl_loss(big_s, big_t, 1.0))
    assert torch.isfinite(kd.losses.kd_kl_loss(big_s, big_t, 1.0))


def test_bench_losses_on_a_tiny_batch():
    out = kdbench.bench_losses(n=8, c=5, repeats=2, warmup=0)
    assert out["shape"] == [8, 5] and out["kd_kl_loss_s"] > 0 and out["naive_s"] > 0
    assert out["max_abs_loss_diff"] < 1e-5 and out["max_abs_grad_diff"] < 1e-5
    assert out["kd_kl_loss_finite_at_1e4"] is True and out["naive_finite_at_1e4"] is False


def test_bench_compression_counts_the_book_models():
    out = kdbench.bench_compression("digits", batch_size=4, rounds=1, repeats=1)
    teacher = kd.models.build_model(kd.models.teacher_config(8))
    student = kd.models.build_model(kd.models.student_config(8, kd.recipes.DEFAULT_SETUP.student_hidden))
    n_t, n_s = kd.models.count_parameters(teacher), kd.models.count_parameters(student)
    assert out["teacher"]["parameters"] == n_t and out["student"]["parameters"] == n_s
    assert out["param_ratio"] == pytest.approx(n_t / n_s) and out["param_ratio"] > 1
    assert out["teacher"]["bytes"] == 4 * n_t  # float32 parameters, no buffers
    assert out["latency_ratio"] == pytest.approx(out["teacher"]["latency_s"] / out["student"]["latency_s"])


def test_seconds_per_call_times_with_torch_benchmark():
    calls = []
    t = kdbench.seconds_per_call(lambda: calls.append(1), 5)
    assert 0 < t < 1 and len(calls) >= 5


def test_slowest_pages_from_a_build_log():
    log = "\n".join([
        f"{ROOT}/book/a.md: Executed notebook in 1.50 seconds [mystnb]",
        f"{ROOT}/book/b.md: Executed notebook in 12.25 seconds [mystnb]",
        f"{ROOT}/book/c.md: Using cached notebook: ID=1 [mystnb]",
        "/elsewhere/d.ipynb: Executed notebook in 3 seconds [mystnb]",
    ])
    pages = kdbench.slowest_pages(log, ROOT, k=2)
    assert pages == [{"page": "book/b.md", "execution_s": 12.25}, {"page": "/elsewhere/d.ipynb", "execution_s": 3.0}]
    assert kdbench.slowest_pages("", ROOT) == []


def test_machine_info_describes_the_machine():
    m = kdbench.machine_info()
    assert m["cores"] >= 1 and m["torch"] == torch.__version__ and m["gpu"] is False
    assert m["cpu"] and m["python"].startswith("3.")


def test_cli_arguments():
    a = bench_run.parse_args(["--quick", "--skip", "book, grading"])
    assert a.quick and a.skip == {"book", "grading"}
    with pytest.raises(SystemExit):
        bench_run.parse_args(["--skip", "everything"])
    with pytest.raises(SystemExit):
        bench_run.parse_args(["--seeds", "0"])
    assert bench_run.FULL["seeds"] >= 5 and set(bench_run.FULL["datasets"]) == set(kd.data.DATASETS)


# --------------------------------------------------------------------------- the committed results


def test_committed_results_match_the_schema_and_the_table():
    """If results are committed, they are complete, from a full run, and results.md is their rendering."""
    j, md = ROOT / "benchmarks" / "results.json", ROOT / "benchmarks" / "results.md"
    if not j.exists():
        pytest.skip("benchmarks/results.json is not committed yet; run `make bench`")
    res = json.loads(j.read_text())
    assert kdbench.validate_results(res) == []
    assert md.read_text() == kdbench.render_markdown(res)
    if not res.get("preliminary"):
        for ds, table in res["distillation"].items():
            for recipe, row in table.items():
                assert len(row["seeds"]) >= 5, (ds, recipe, row["seeds"])
        assert not math.isnan(res["compression"]["latency_ratio"])


def test_book_bench_builds_both_editions_with_a_cache_of_its_own(tmp_path):
    """The clean builds get generated configurations whose jupyter-cache is the benchmark's, not _build's."""
    import yaml

    en, zh = kdbench._edition_configs(ROOT, tmp_path)
    en_cfg, zh_cfg = (yaml.safe_load(p.read_text(encoding="utf-8")) for p in (en, zh))
    cache = str((tmp_path / "jupyter_cache").resolve())
    assert en_cfg["execute"]["cache"] == zh_cfg["execute"]["cache"] == cache
    assert zh_cfg["sphinx"]["config"]["language"] == "zh_CN" and "language" not in en_cfg["sphinx"]["config"]
    assert zh_cfg["html"]["baseurl"] == en_cfg["html"]["baseurl"] + "zh/"


def test_the_chinese_releases_are_timed_like_the_english_ones():
    """Issue 17: grading.seconds_per_notebook.{losses_zh, training_zh}, and their ratio to English."""
    assert kdbench.graded_releases() == ("losses", "training", "losses_zh", "training_zh")
    for a in kdbench.graded_releases():
        assert f"grading.seconds_per_notebook.{a}" in kdbench.REQUIRED_KEYS
    assert kdbench.zh_over_en({"losses": 10.0, "training": 20.0, "losses_zh": 10.5, "training_zh": 19.0}) == \
        {"losses": 1.05, "training": 0.95}
    assert "`losses_zh` 1.02×" in kdbench.render_markdown(complete_results())


def test_scratch_tuned_row_and_gap_against_the_tuned_baseline():
    """distillation.<dataset>.scratch_tuned: the tuned baseline's row, and each KD row's gap against it."""
    runs = {
        "teacher": _runs([(0, 0.98, 10), (1, 0.97, 12)], val=0.97),
        "scratch": _runs([(0, 0.88, 50), (1, 0.87, 52)], val=0.86),
        "recommended": _runs([(0, 0.95, 20), (1, 0.94, 22)], val=0.94),
    }
    grid_runs = {"epochs=3": _runs([(0, 0.89, 45), (1, 0.90, 47)], val=0.88),
                 "epochs=5": _runs([(0, 0.80, 80), (1, 0.80, 80)], val=0.70)}
    tuned = kd.recipes.TunedScratch(dataclasses.replace(kd.recipes.RECIPES["scratch"], name="scratch_tuned", epochs=3),
                                    "epochs=3", grid_runs["epochs=3"], grid_runs)
    t = kdbench.distillation_table(runs, n_test=450, scratch_tuned=tuned)
    row = t["scratch_tuned"]
    assert row["test_errors"] == 46.0 and row["gap_recovered"] is None and not row["chosen_on_validation"]
    assert row["settings"]["epochs"] == 3 and row["grid_size"] == 2 and row["n_test"] == 450
    assert t["recommended"]["gap_recovered_vs_tuned"] == pytest.approx((46 - 21) / (46 - 11))
    assert t["recommended"]["gap_recovered"] == pytest.approx((51 - 21) / (51 - 11))
    assert t["recommended"]["chosen_on_validation"]  # the tuned baseline is not a distillation candidate
    res = complete_results()
    res["distillation"] = {"digits": t}
    assert not [x for x in kdbench.validate_results(res) if "scratch_tuned" in x]
    md = kdbench.render_markdown(res)
    assert "| gap recovered, tuned baseline |" in md and "| scratch_tuned | 0.8800 |" in md and "71 % |" in md
    with pytest.raises(ValueError, match="scratch_tuned"):
        kdbench.distillation_table({**runs, "scratch_tuned": runs["scratch"]})


def test_run_scratch_tuned_runs_every_grid_setting_on_every_seed():
    calls = []

    def runner(recipe, dataset, seed):
        calls.append((recipe.epochs, dataset, seed))
        return kd.recipes.RunResult(recipe.name, seed, 0.5, 10, [], None, 0.5 + recipe.epochs / 100)

    t = kdbench.run_scratch_tuned("digits", [0, 1], grid={"epochs": (3, 5)}, runner=runner)
    assert sorted(calls) == [(3, "digits", 0), (3, "digits", 1), (5, "digits", 0), (5, "digits", 1)]
    assert t.label == "epochs=5" and t.recipe.name == "scratch_tuned"
    with pytest.raises(ValueError, match="seeds"):
        kdbench.run_scratch_tuned("digits", [], runner=runner)


def test_a_part_measured_again_says_which_commit_it_comes_from():
    """``run.py --update PARTS``: the table names the commit, date and load of each part measured again."""
    res = complete_results()
    base = kdbench.provenance(res)
    res["measured"] = {p: dict(base) for p in kdbench.PARTS}
    res["measured"]["losses"] = {"commit": "abc1234", "date_utc": "2026-12-08 02:00 UTC",
                                 "load_average_at_start": [0.5, 0.4, 0.3], "preliminary": None}
    md = kdbench.render_markdown(res)
    assert "| losses | `abc1234` | 2026-12-08 02:00 UTC | [0.5, 0.4, 0.3] |" in md
    assert "| book |" not in md  # parts from the base run are not listed again


def test_lm_results_are_checked_and_rendered():
    """results["lm"] (optional part): every method of kdutils.lm with mean and std of each metric, and a table."""
    from kdutils import lm

    stat = {"mean": 1.0, "std": 0.1}
    good = {"seeds": [0, 1, 2], "teacher_seconds": 5.0, "seconds": 80.0,
            **{m: {k: dict(stat) for k in kdbench.LM_METRICS} for m in lm.METHODS}}
    assert kdbench.lm_problems(good) == []
    bad = json.loads(json.dumps(good))
    del bad["on_policy_rkl"]["true_nll"]
    bad["word_kd"]["validity"] = {"mean": "x", "std": 0.1}
    problems = kdbench.lm_problems(bad)
    assert any("lm.on_policy_rkl.true_nll" in p for p in problems) and any("lm.word_kd.validity" in p for p in problems)
    md = kdbench.render_markdown({"machine": {"cpu": "x", "cores": 2, "torch": "2", "python": "3", "date_utc": "d",
                                              "platform": "p"}, "lm": good})
    assert "## 6. Distilling language models" in md and "| on_policy_rkl |" in md
