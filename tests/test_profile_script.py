"""scripts/profile-offline.py's pooling of py-spy's collapsed stacks (no py-spy run)."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "profile-offline.py"
spec = importlib.util.spec_from_file_location("profile_offline", SCRIPT)
profile_offline = importlib.util.module_from_spec(spec)
spec.loader.exec_module(profile_offline)


def test_self_and_total_samples_under_play_one():
    raw = [
        "<module> (m.py:1);play_one (demos/play.py:76);writei (pcm/x.py:10) 3",
        "<module> (m.py:1);play_one (demos/play.py:80);writei (pcm/x.py:12);step (s.py:5) 2",
        # recursion counts once in the total; lines of one function merge
        "play_one (demos/play.py:76);f (a.py:1);f (a.py:2);f (a.py:3) 4",
        "<module> (m.py:1);open_session (d/s.py:9) 7",  # not under play_one: left out
        " 5",  # a sample with no Python stack
    ]
    n, own, total = profile_offline.aggregate(raw)
    assert n == 9
    assert own == {"writei (pcm/x.py)": 3, "step (s.py)": 2, "f (a.py)": 4}
    assert total["play_one (demos/play.py)"] == 9
    assert total["writei (pcm/x.py)"] == 5 and total["f (a.py)"] == 4
    assert "open_session (d/s.py)" not in total
