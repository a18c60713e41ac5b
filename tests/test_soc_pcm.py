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


class _SpyOps:
    """Stands in for a DAI's ops (``struct snd_soc_dai_ops``): records each op the core
    asks for, whether the driver has it or not, and passes it on; ``fail[who] == op``
    makes that op fail."""

    def __init__(self, real, who: str, log: list[tuple[str, str]], fail: dict[str, str]):
        self._real, self._who, self._log, self._fail = real, who, log, fail

    def __getattr__(self, op: str):
        fn = getattr(self._real, op, None)

        def call(*args):
            self._log.append((self._who, op))
            if self._fail.get(self._who) == op:
                raise PcmError(5, f"{self._who}: {op} fails")
            return fn(*args) if fn is not None else None
        return call


@pytest.fixture
def spied(audio_board):
    link = cards()[0].links[0]
    log: list[tuple[str, str]] = []
    fail: dict[str, str] = {}
    platform, cpu_ops, codec_ops = link.platform, link.cpu.ops, link.codec.ops
    link.cpu.ops = _SpyOps(cpu_ops, "cpu", log, fail)
    link.codec.ops = _SpyOps(codec_ops, "codec", log, fail)
    link.platform = _Platform(platform, log)
    yield log, fail
    link.cpu.ops, link.codec.ops, link.platform = cpu_ops, codec_ops, platform


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
