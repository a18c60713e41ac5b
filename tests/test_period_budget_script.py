"""scripts/period-budget.py's skeleton: the floor's copies under the stack's control flow."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "period-budget.py"
spec = importlib.util.spec_from_file_location("period_budget", SCRIPT)
period_budget = importlib.util.module_from_spec(spec)
spec.loader.exec_module(period_budget)


@pytest.mark.parametrize("frames", [64 * 10, 64 * 10 + 17, 63])
def test_the_skeleton_puts_out_every_frame_in_order(frames):
    rng = np.random.default_rng(frames)
    data = rng.integers(-32768, 32767, (frames, 2), dtype=np.int16)
    out = period_budget.skeleton_copy(data, 64)
    np.testing.assert_array_equal(out, data)
