"""Tests of kdutils.recipes: recipe/setup validation, one run end to end (tiny epochs), summaries and the bias fix."""
from __future__ import annotations

import dataclasses

import pytest
import torch

import kdutils as kd
from kdutils.recipes import RECIPES, Recipe, RunResult, Setup

TINY_TEACHER = Recipe("tiny_teacher", kind="teacher", epochs=2, lr=1e-3)
TINY = Setup(per_class=5, student_hidden=8, teacher=TINY_TEACHER)


def tiny(name: str, epochs: int = 5) -> Recipe:
    return dataclasses.replace(RECIPES[name], epochs=epochs)


def test_published_recipes_have_the_published_settings():
    assert set(RECIPES) == {"teacher", "scratch", "recommended", "pytorch_tutorial", "keras_example", "high_T8"}
    assert set(kd.recipes.CANDIDATES) <= set(RECIPES)
    # the recommended recipe is one of the candidates (the one validation chose), under its own name
    rec = RECIPES["recommended"]
    assert any(dataclasses.replace(RECIPES[c], name="recommended") == rec for c in kd.recipes.CANDIDATES)
    pt, ke = RECIPES["pytorch_tutorial"], RECIPES["keras_example"]
    assert (pt.kind, pt.T, pt.alpha) == ("kd", 2.0, 0.25)  # soft 0.25, CE 0.75
    assert (ke.kind, ke.T, ke.alpha) == ("kd", 10.0, 0.9)  # Keras alpha=0.1 is the *hard* weight
    students = [r for r in RECIPES.values() if r.kind != "teacher"]
    # same schedule for every student recipe: only the loss differs
    assert len({(r.epochs, r.lr, r.batch_size, r.shift) for r in students}) == 1


@pytest.mark.parametrize(
    "kwargs, exc, word",
    [
        (dict(kind="student"), ValueError, "kind"),
        (dict(T=0.0), ValueError, "T"),
        (dict(alpha=1.5), ValueError, "alpha"),
        (dict(epochs=0), ValueError, "epochs"),
        (dict(epochs=2.5), TypeError, "epochs"),
        (dict(lr=-1.0), ValueError, "lr"),
        (dict(shift=-1), ValueError, "shift"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(weight_decay=-1e-3), ValueError, "weight_decay"),
        (dict(kind="scratch", label_smoothing=1.0), ValueError, "label_smoothing"),
        (dict(kind="kd", label_smoothing=0.1), ValueError, "label_smoothing"),
    ],
)
def test_recipe_rejects_bad_values(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        Recipe("bad", **kwargs)


@pytest.mark.parametrize(
    "kwargs, exc, word",
    [
        (dict(dataset="cifar"), ValueError, "dataset"),
        (dict(per_class=0), ValueError, "per_class"),
        (dict(student_hidden=0), ValueError, "student_hidden"),
        (dict(teacher_kind="resnet"), ValueError, "teacher_kind"),
        (dict(exclude_classes=[3]), TypeError, "exclude_classes"),
        (dict(teacher=RECIPES["scratch"]), ValueError, "teacher"),
    ],
)
def test_setup_rejects_bad_values(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        Setup(**kwargs)


def test_get_recipe_by_name_and_unknown_name():
    assert kd.recipes.get_recipe("recommended") is RECIPES["recommended"]
    r = Recipe("mine")
    assert kd.recipes.get_recipe(r) is r
    with pytest.raises(ValueError, match="recipe"):
        kd.recipes.get_recipe("distil_harder")


def test_transfer_set_sizes_and_excluded_class():
    X, y = kd.recipes.transfer_set(Setup(per_class=7), seed=1)
    assert len(y) == 70 and torch.bincount(y, minlength=10).tolist() == [7] * 10
    X, y = kd.recipes.transfer_set(Setup(per_class=None, exclude_classes=(3,)), seed=0)
    full = kd.recipes.get_splits("digits").y_train
    assert (y != 3).all() and len(y) == int((full != 3).sum())


def test_run_recipe_end_to_end_is_deterministic_and_shares_the_teacher():
    a = kd.recipes.run_recipe(tiny("recommended"), TINY, seed=0)
    b = kd.recipes.run_recipe(tiny("recommended"), TINY, seed=0)
    n_test = len(kd.recipes.get_splits("digits").y_test)
    assert isinstance(a, RunResult) and a.recipe == "recommended" and a.seed == 0
    assert 0.0 <= a.accuracy <= 1.0
    assert a.errors == round((1 - a.accuracy) * n_test)
    assert len(a.class_accuracy) == 10
    assert a.accuracy == b.accuracy
    # the same teacher object serves every student of a seed; another seed gets another teacher
    assert kd.recipes.get_teacher(TINY, 0) is kd.recipes.get_teacher(TINY, 0)
    assert kd.recipes.get_teacher(TINY, 1) is not kd.recipes.get_teacher(TINY, 0)
    t = kd.recipes.run_recipe("teacher", TINY, seed=0)
    assert t.model is kd.recipes.get_teacher(TINY, 0)


def test_distillation_moves_the_student_towards_the_teacher():
    """With enough steps the distilled student agrees with its teacher more than the scratch student's init does."""
    s = dataclasses.replace(TINY, per_class=20)
    teacher = kd.recipes.get_teacher(s, 0)
    X = kd.recipes.get_splits("digits").X_test
    t_pred = kd.train.predict_logits(teacher, X).argmax(-1)
    kd_run = kd.recipes.run_recipe(tiny("keras_example", 60), s, seed=0)
    agree = (kd.train.predict_logits(kd_run.model, X).argmax(-1) == t_pred).float().mean().item()
    kd.train.set_seed(0)
    untrained = kd.models.build_model(kd.models.student_config(8, 8))
    agree0 = (kd.train.predict_logits(untrained, X).argmax(-1) == t_pred).float().mean().item()
    assert agree > agree0 + 0.3


def test_run_recipe_rejects_bad_seed_and_recipe():
    with pytest.raises(TypeError, match="seed"):
        kd.recipes.run_recipe(tiny("scratch"), TINY, seed="0")
    with pytest.raises(ValueError, match="recipe"):
        kd.recipes.run_recipe("nope", TINY, seed=0)
    with pytest.raises(ValueError, match="seeds"):
        kd.recipes.run_seeds(tiny("scratch"), TINY, seeds=[])


def _fake(name, accs, n=100):
    return [RunResult(name, i, a, round((1 - a) * n), [a] * 10, torch.nn.Identity()) for i, a in enumerate(accs)]


def test_summary_table_gap_recovered_uses_mean_errors():
    res = {
        "teacher": _fake("teacher", [0.98, 0.98]),  # 2 errors
        "scratch": _fake("scratch", [0.90, 0.88]),  # 11 errors on average
        "kd": _fake("kd", [0.96, 0.94]),  # 5 errors on average
    }
    table = kd.recipes.summary_table(res)
    assert table["kd"]["test_errors"] == 5.0
    assert table["kd"]["gap_recovered"] == pytest.approx((11 - 5) / (11 - 2))
    assert table["teacher"]["gap_recovered"] is None and table["scratch"]["gap_recovered"] is None
    assert table["scratch"]["mean_acc"] == pytest.approx(0.89)
    assert table["scratch"]["std_acc"] == pytest.approx(0.0141421, rel=1e-4)
    assert table["kd"]["seeds"] == [0, 1]


def test_compare_runs_every_recipe_on_the_same_seeds():
    res = kd.recipes.compare([tiny("scratch", 2), tiny("pytorch_tutorial", 2)], TINY, seeds=[0, 1])
    assert list(res) == ["scratch", "pytorch_tutorial"]
    assert [r.seed for r in res["pytorch_tutorial"]] == [0, 1]


def test_shift_class_bias_copies_and_moves_one_bias():
    kd.train.set_seed(0)
    m = kd.models.build_model(kd.models.student_config(8, 8))
    before = m.head.bias.detach().clone()
    m2 = kd.recipes.shift_class_bias(m, 3, 2.5)
    assert torch.equal(m.head.bias.detach(), before)  # original untouched
    diff = m2.head.bias.detach() - before
    assert diff[3].item() == pytest.approx(2.5) and torch.count_nonzero(diff) == 1
    x = torch.rand(50, 1, 8, 8)
    assert (kd.recipes.shift_class_bias(m, 3, 1e4)(x).argmax(-1) == 3).all()
    with pytest.raises(ValueError, match="class_index"):
        kd.recipes.shift_class_bias(m, 10, 1.0)
    with pytest.raises(TypeError, match="model"):
        kd.recipes.shift_class_bias(torch.nn.Linear(3, 3), 0, 1.0)


def test_choose_bias_shift_undoes_a_known_bias_drop():
    """A classifier whose class-3 logit was pushed down by 4 is repaired by a shift of about 4."""
    torch.manual_seed(0)
    y = torch.randint(0, 10, (400,))
    X = torch.nn.functional.one_hot(y, 10).float()[:, None, None, :] * 3.0 + 0.3 * torch.randn(400, 1, 1, 10)
    model = kd.models.MLP(kd.models.MLPConfig(in_features=10, hidden=(), num_classes=10))
    with torch.no_grad():
        model.head.weight.copy_(torch.eye(10))
        model.head.bias.zero_()
        model.head.bias[3] = -4.0
    pred = kd.train.predict_logits(model, X).argmax(-1)
    assert (pred[y == 3] == 3).float().mean() < 0.1
    delta, acc = kd.recipes.choose_bias_shift(model, X, y, 3)
    assert 2.5 <= delta <= 5.5 and acc > 0.95


def test_run_seeds_cache_trains_each_setting_once():
    """cache=True returns the very same RunResult for a repeated (recipe, setup, seed); cache=False retrains."""
    r = tiny("scratch", 3)
    first = kd.recipes.run_seeds(r, TINY, seeds=[0, 1], cache=True)
    again = kd.recipes.run_seeds(dataclasses.replace(r), TINY, seeds=[1], cache=True)
    assert again[0] is first[1]
    fresh = kd.recipes.run_seeds(r, TINY, seeds=[1])
    assert fresh[0] is not first[1] and fresh[0].accuracy == first[1].accuracy


def test_different_seeds_give_different_teachers_transfer_sets_and_students():
    """Guards against a seed that is dropped on the way (cache key, transfer set, init): the book's three-seed
    spreads of 0.0 (three seeds on 16 test errors each) must come from different models, not from one run repeated."""
    r = tiny("recommended", 5)
    runs = kd.recipes.run_seeds(r, TINY, seeds=[0, 1, 2], cache=True)
    assert [run.seed for run in runs] == [0, 1, 2]
    assert len({id(run.model) for run in runs}) == 3

    def flat(model):
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert not torch.equal(flat(runs[a].model), flat(runs[b].model)), (a, b)
        assert not torch.equal(flat(kd.recipes.get_teacher(TINY, a)), flat(kd.recipes.get_teacher(TINY, b))), (a, b)
        assert not torch.equal(kd.recipes.transfer_set(TINY, a)[0], kd.recipes.transfer_set(TINY, b)[0]), (a, b)
    # the same seed, retrained without the cache, gives the same model: the differences above are the seed's
    again = kd.recipes.run_recipe(r, TINY, seed=1)
    assert torch.equal(flat(again.model), flat(runs[1].model))


def test_variant_changes_fields_and_keeps_the_name():
    v = kd.recipes.variant("recommended", T=2.0)
    assert v.name == "recommended" and v.T == 2.0 and v.alpha == RECIPES["recommended"].alpha
    assert kd.recipes.variant("recommended", alpha=RECIPES["recommended"].alpha) == RECIPES["recommended"]
    with pytest.raises(TypeError, match="temperature"):
        kd.recipes.variant("recommended", temperature=2.0)
    with pytest.raises(ValueError, match="T must be > 0"):
        kd.recipes.variant("recommended", T=0.0)


def test_sweep_reports_percent_mean_and_std_over_seeds():
    pairs = [(tiny("scratch", 2), TINY), (tiny("recommended", 2), TINY)]
    means, stds = kd.recipes.sweep(pairs, seeds=[0, 1])
    for (rec, setup), m, s in zip(pairs, means, stds):
        accs = kd.recipes.accuracies(kd.recipes.run_seeds(rec, setup, [0, 1], cache=True))
        assert m == pytest.approx(100 * sum(accs) / 2)
        assert s == pytest.approx(100 * abs(accs[0] - accs[1]) / 2 ** 0.5)


def _fake_val(name, val_accs):
    return [RunResult(name, i, 0.5, 50, [0.5] * 10, torch.nn.Identity(), v) for i, v in enumerate(val_accs)]


def test_every_run_is_scored_on_validation_too():
    r = kd.recipes.run_recipe(tiny("scratch", 3), TINY, seed=0)
    splits = kd.recipes.get_splits("digits")
    pred = kd.train.predict_logits(r.model, splits.X_val).argmax(-1)
    assert r.val_accuracy == pytest.approx((pred == splits.y_val).float().mean().item())
    assert kd.recipes.val_accuracies([r]) == [r.val_accuracy]


def test_choose_on_validation_ignores_test_and_the_teacher():
    res = {
        "teacher": _fake_val("teacher", [0.99, 0.99]),
        "a": _fake_val("a", [0.90, 0.94]),  # mean 0.92
        "b": _fake_val("b", [0.93, 0.93]),  # mean 0.93: the choice
    }
    res["a"][0].accuracy = 1.0  # a better *test* score must not matter
    assert kd.recipes.choose_on_validation(res) == "b"
    assert kd.recipes.choose_on_validation(res, exclude=()) == "teacher"
    tie = {"x": _fake_val("x", [0.9]), "y": _fake_val("y", [0.9])}
    assert kd.recipes.choose_on_validation(tie) == "x"  # ties go to the first
    with pytest.raises(ValueError, match="candidate"):
        kd.recipes.choose_on_validation({"teacher": res["teacher"]})
    with pytest.raises(ValueError, match="validation"):
        kd.recipes.choose_on_validation({"z": _fake("z", [0.9])})  # runs without a validation score


def test_inconsistent_teaching_uses_fixed_targets_and_differs_from_consistent():
    cons = kd.recipes.variant("recommended", epochs=4, shift=1)
    incons = kd.recipes.variant("recommended", epochs=4, shift=1, consistent=False)
    a = kd.recipes.run_recipe(cons, TINY, seed=0)
    b = kd.recipes.run_recipe(incons, TINY, seed=0)
    b2 = kd.recipes.run_recipe(incons, TINY, seed=0)
    assert b.accuracy == b2.accuracy  # deterministic
    wa = torch.cat([p.detach().flatten() for p in a.model.parameters()])
    wb = torch.cat([p.detach().flatten() for p in b.model.parameters()])
    assert not torch.allclose(wa, wb)
    with pytest.raises(TypeError, match="consistent"):
        Recipe("bad", consistent=1)


def test_a_changed_teacher_recipe_is_honoured():
    five = kd.recipes.variant(TINY.teacher, epochs=1)
    r = kd.recipes.run_recipe(five, TINY, seed=0)
    assert r.model is kd.recipes.get_teacher(dataclasses.replace(TINY, teacher=five), 0)
    assert r.model is not kd.recipes.get_teacher(TINY, 0)


def test_clear_cache_forgets_runs_and_teachers():
    t = kd.recipes.get_teacher(TINY, 0)
    kd.recipes.clear_cache()
    assert kd.recipes.get_teacher(TINY, 0) is not t


def test_sweep_on_validation_reads_the_same_runs():
    pairs = [(tiny("scratch", 2), TINY)]
    means, _ = kd.recipes.sweep(pairs, seeds=[0, 1], split="val")
    val = kd.recipes.val_accuracies(kd.recipes.run_seeds(pairs[0][0], TINY, [0, 1], cache=True))
    assert means[0] == pytest.approx(100 * sum(val) / 2)
    with pytest.raises(ValueError, match="split"):
        kd.recipes.sweep(pairs, seeds=[0], split="train")


def test_setups_name_one_setup_per_dataset():
    assert set(kd.recipes.SETUPS) == set(kd.data.DATASETS)
    assert kd.recipes.SETUPS["digits"] is kd.recipes.DEFAULT_SETUP
    mnist = kd.recipes.SETUPS["mnist"]
    assert (mnist.dataset, mnist.teacher_kind, mnist.teacher.kind) == ("mnist", "cnn", "teacher")
    # the CNN teacher builds for 28x28 inputs and maps a batch to 10 logits
    net = kd.models.build_model(kd.models.teacher_config(28, mnist.teacher_kind))
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_weight_decay_and_label_smoothing_change_the_scratch_student():
    """Each regulariser reaches the optimiser or the loss: the trained weights differ from the plain recipe's."""
    base = kd.recipes.run_recipe(tiny("scratch", 20), TINY, seed=0)
    again = kd.recipes.run_recipe(tiny("scratch", 20), TINY, seed=0)
    wd = kd.recipes.run_recipe(dataclasses.replace(tiny("scratch", 20), weight_decay=0.1), TINY, seed=0)
    ls = kd.recipes.run_recipe(dataclasses.replace(tiny("scratch", 20), label_smoothing=0.2), TINY, seed=0)
    w = lambda r: torch.cat([p.detach().flatten() for p in r.model.parameters()])
    assert torch.equal(w(base), w(again))
    assert not torch.allclose(w(base), w(wd)) and not torch.allclose(w(base), w(ls))
    assert w(wd).norm() < w(base).norm()  # the L2 penalty shrinks the weights
    # label smoothing keeps the outputs off one-hot: the smoothed student is less confident on its data
    X, _ = kd.recipes.transfer_set(TINY, seed=0)
    conf = lambda r: torch.softmax(kd.train.predict_logits(r.model, X), -1).max(-1).values.mean().item()
    assert conf(ls) < conf(base)


def test_scratch_grid_is_every_combination_with_labels():
    g = kd.recipes.scratch_grid({"weight_decay": (0.0, 0.01), "epochs": (3, 5)})
    assert list(g) == ["weight_decay=0 epochs=3", "weight_decay=0 epochs=5",
                       "weight_decay=0.01 epochs=3", "weight_decay=0.01 epochs=5"]
    assert all(r.kind == "scratch" and r.name == "scratch" for r in g.values())
    assert g["weight_decay=0.01 epochs=5"] == dataclasses.replace(RECIPES["scratch"], weight_decay=0.01, epochs=5)
    full = kd.recipes.scratch_grid()
    assert len(full) == 24 and RECIPES["scratch"] in full.values()  # the untuned baseline is a candidate
    with pytest.raises(TypeError, match="grid"):
        kd.recipes.scratch_grid({"dropout": (0.1,)})
    with pytest.raises(ValueError, match="grid"):
        kd.recipes.scratch_grid({"epochs": ()})


def test_tune_scratch_chooses_on_validation_not_test(monkeypatch):
    """The chosen setting is the one with the best mean validation accuracy, whatever test says."""
    val = {3: [0.70, 0.72], 5: [0.80, 0.78]}
    test = {3: [0.99, 0.99], 5: [0.50, 0.50]}

    def fake_run_seeds(recipe, setup, seeds, cache=False):
        return [RunResult(recipe.name, s, test[recipe.epochs][s], 0, [], None, val[recipe.epochs][s]) for s in seeds]

    monkeypatch.setattr(kd.recipes, "run_seeds", fake_run_seeds)
    t = kd.recipes.tune_scratch(TINY, seeds=[0, 1], grid={"epochs": (3, 5)})
    assert t.label == "epochs=5" and t.recipe.epochs == 5 and t.recipe.name == "scratch_tuned"
    assert [r.val_accuracy for r in t.runs] == [0.80, 0.78] and set(t.grid_runs) == {"epochs=3", "epochs=5"}
    assert t.settings() == {"weight_decay": 0.0, "label_smoothing": 0.0, "epochs": 5}
    with pytest.raises(ValueError, match="seeds"):
        kd.recipes.tune_scratch(TINY, seeds=[], grid={"epochs": (3,)})
