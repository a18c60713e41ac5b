"""The bench's skeleton: the floor's copies under the stack's control flow."""

import numpy as np
import pytest

from demos import bench_worker


@pytest.mark.parametrize("frames", [64 * 10, 64 * 10 + 17, 63])
def test_the_skeleton_puts_out_every_frame_in_order(frames):
    rng = np.random.default_rng(frames)
    data = rng.integers(-32768, 32767, (frames, 2), dtype=np.int16)
    out = bench_worker.skeleton_copy(data, 64)
    np.testing.assert_array_equal(out, data)
