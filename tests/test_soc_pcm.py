"""The ASoC PCM ops' ordering (soc-pcm.c) on the audio board, on the virtual clock."""

from __future__ import annotations

import numpy as np
import pytest

from pcm import alsa
from pcm.errors import PcmError
from pcm.runtime import PcmStream
from pcm.soc_pcm import cards


class _Platform:
    """Wraps the platform so that each call is recorded, then passed on."""

    def __init__(self, inner, log: list[tuple[str, str]]) -> None:
        self._inner, self._log = inner, log

    def __getattr__(self, op: str):
        fn = getattr(self._inner, op)
        if not callable(fn):
            return fn

        def call(*args):
            self._log.append(("platform", op))
            return fn(*args)
        return call


def _spy_dai(dai, who: str, log: list[tuple[str, str]], fail: dict[str, str]) -> None:
    """Record each op the core calls on ``dai`` (``snd_soc_dai_*``), whether the driver
    has it or not; ``fail[who] == op`` makes that op fail."""
    real = dai.call

    def call(op, *args):
        log.append((who, op))
        if fail.get(who) == op:
            raise PcmError(5, f"{who}: {op} fails")
        return real(op, *args)
    dai.call = call


@pytest.fixture
def spied(audio_board):
    link = cards()[0].links[0]
    log: list[tuple[str, str]] = []
    fail: dict[str, str] = {}
    platform = link.platform
    _spy_dai(link.cpu, "cpu", log, fail)
    _spy_dai(link.codec, "codec", log, fail)
    link.platform = _Platform(platform, log)
    yield log, fail
    del link.cpu.call, link.codec.call
    link.platform = platform


def _calls(log, ops):
    return [(who, op) for who, op in log if op in ops]


def test_open_runs_the_component_then_the_dais(spied):
    """__soc_pcm_open: soc_pcm_components_open, snd_soc_link_startup, then each DAI's
    startup, CPU first."""
    log, _ = spied
    pcm = alsa.open_pcm("default", PcmStream.PLAYBACK)
    pcm.close()
    assert _calls(log, {"open", "startup"}) == [
        ("platform", "open"), ("cpu", "startup"), ("codec", "startup")]


def test_a_dai_whose_startup_fails_closes_what_was_opened(spied):
    log, fail = spied
    fail["codec"] = "startup"
    with pytest.raises(PcmError):
        alsa.open_pcm("default", PcmStream.PLAYBACK)
    assert _calls(log, {"open", "startup", "shutdown", "close"}) == [
        ("platform", "open"), ("cpu", "startup"), ("codec", "startup"),
        ("cpu", "shutdown"), ("platform", "close")]


def test_trigger_start_is_component_then_dais_and_stop_is_dais_then_component(spied):
    """soc_pcm_trigger's default order: START = link, component, DAIs; STOP = DAIs,
    component, link; the DAIs in the rtd's order (CPU, codec) both ways."""
    log, _ = spied
    pcm = alsa.open_pcm("default", PcmStream.PLAYBACK)
    pcm.set_params("S16_LE", 2, 48000, period_size=1024, periods=4)
    pcm.prepare()
    pcm.writei(np.zeros((4096, 2), "<i2"))  # starts at the first frame
    pcm.drop()
    pcm.close()
    assert _calls(log, {"trigger"}) == [
        ("platform", "trigger"), ("cpu", "trigger"), ("codec", "trigger"),
        ("cpu", "trigger"), ("codec", "trigger"), ("platform", "trigger")]
