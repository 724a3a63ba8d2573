"""Output facts for the sanity check: NaN/Inf, probability sums, the reference range."""

from __future__ import annotations

import numpy as np

from baton.core.policy import SanityPolicy
from baton.evaluate.sanity import output_facts, reference_range

POLICY = SanityPolicy()


def test_healthy_probabilities() -> None:
    proba = np.array([[0.2, 0.8], [0.5, 0.5]], np.float32)
    facts = output_facts(
        proba, probabilities=True, reference=proba, policy=POLICY, reference_name="x"
    )
    assert facts.values == 4 and facts.nonfinite == 0
    assert facts.probability_error is not None and facts.probability_error < 1e-6
    assert facts.out_of_range == 0.0 and np.allclose(facts.reference_range or (), (0.2, 0.8))
    assert facts.notes == ("range taken from x",)


def test_nan_logits_and_out_of_range_values_are_counted() -> None:
    out = np.array([[np.nan, 1.0], [3.0, -2.0], [0.5, 0.5]], np.float32)
    facts = output_facts(out, probabilities=True, reference=np.array([0.0, 1.0]), policy=POLICY)
    assert facts.nonfinite == 1
    assert facts.probability_error is not None and facts.probability_error >= 2.0
    assert facts.out_of_range is not None and np.isclose(facts.out_of_range, 2 / 5)


def test_all_nan_rows_and_integer_outputs() -> None:
    nan = output_facts(np.full((2, 2), np.nan), probabilities=True, reference=None, policy=POLICY)
    assert (
        nan.nonfinite == 4 and nan.probability_error is not None and np.isnan(nan.probability_error)
    )
    ints = output_facts(np.array([1, 2]), probabilities=False, reference=None, policy=POLICY)
    assert ints.nonfinite == 0 and ints.out_of_range is None
    assert reference_range(np.array([np.nan, np.inf])) is None
    assert reference_range(None) is None
