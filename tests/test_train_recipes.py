"""Tests of how ``kdutils.recipes`` trains teachers: a teacher recipe is honoured, and the caches can be cleared."""
from __future__ import annotations

import kdutils as kd
from kdutils.recipes import Recipe, Setup

TINY_TEACHER = Recipe("tiny_teacher", kind="teacher", epochs=1, lr=1e-3)
TINY = Setup(per_class=5, student_hidden=8, teacher=TINY_TEACHER)


def test_a_teacher_variant_is_trained_as_given_not_replaced_by_the_setups_teacher():
    kd.recipes.clear_cache()
    default = kd.recipes.run_recipe("teacher", TINY, seed=0)          # the setup's teacher
    assert default.model is kd.recipes.get_teacher(TINY, 0)
    longer = kd.recipes.run_recipe(kd.recipes.variant(TINY_TEACHER, epochs=3), TINY, seed=0)
    assert longer.model is not default.model
    assert longer.model is kd.recipes.get_teacher(Setup(per_class=5, student_hidden=8,
                                                        teacher=kd.recipes.variant(TINY_TEACHER, epochs=3)), 0)


def test_clear_cache_forgets_teachers_and_runs():
    t = kd.recipes.get_teacher(TINY, 0)
    assert kd.recipes.get_teacher(TINY, 0) is t
    kd.recipes.clear_cache()
    assert kd.recipes.get_teacher(TINY, 0) is not t
