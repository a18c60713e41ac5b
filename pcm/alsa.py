"""The user-space API after alsa-lib: open a PCM by name, set it up, move frames.

Counterpart: alsa-lib's ``snd_pcm_open``, the ``snd_pcm_hw_params_*_near`` setters,
``snd_pcm_sw_params_*``, ``snd_pcm_writei``/``readi``, ``snd_pcm_drain`` (with its drain
silence), ``snd_pcm_recover`` and ``snd_pcm_dump_setup``.

Example::

    pcm = alsa.open_pcm("default", PcmStream.PLAYBACK)
    pcm.set_params("S16_LE", channels=2, rate=48000)
    pcm.writei(frames)          # (n, 2) int16
    pcm.drain()
    pcm.close()

Names: ``default`` (card 0, device 0) or ``hw:CARD,DEV``. The drain silence and the
application's sw_params: docs/design-notes.md.
"""

from __future__ import annotations

import errno
from dataclasses import replace

import numpy as np

from pcm import params as hp
from pcm.errors import ParamError, PcmError
from pcm.formats import pcm_format
from pcm.pcm_native import Substream, SwParams
from pcm.proc import dump_setup
from pcm.runtime import PcmRuntime, PcmState, PcmStream
from pcm.soc_pcm import SocCard, cards


def find_card(name: str) -> tuple[SocCard, int]:
    """Resolve ``default`` or ``hw:CARD[,DEV]`` to (card, device)."""
    registered = cards()
    if name == "default":
        if not registered:
            raise PcmError(errno.ENOENT, "no sound card registered")
        return registered[0], 0
    if not name.startswith("hw:"):
        raise PcmError(errno.ENOENT, f"unknown PCM {name!r} (use default or hw:CARD,DEV)")
    card_id, _, dev = name[3:].partition(",")
    for card in registered:
        if card_id in (str(card.index), card.name):
            return card, int(dev or 0)
    raise PcmError(errno.ENOENT, f"no card {card_id!r}")


class Pcm:
    """``snd_pcm_t`` over one substream."""

    def __init__(self, card: SocCard, device: int, stream: PcmStream, nonblock: bool) -> None:
        self.card = card
        self.substream = card.pcm(device, stream)
        self.nonblock = nonblock
        self.drain_silence = True
        self._app_sw: SwParams | None = None  # the application's, while a drain's are set
        self.substream.open()

    def _fop(self) -> Substream:
        """The substream, for an operation on this open PCM file: ENODEV once the card is
        disconnected (``snd_card_disconnect`` swaps each open file's operations for
        ``snd_disconnect_*``, which answer -ENODEV to all but release). The status that
        alsa-lib reads from the mmapped page (:attr:`state`, :attr:`runtime`) stays
        readable, and :meth:`close` works as ever."""
        if self.card.shutdown:
            raise PcmError(errno.ENODEV, f"{self.substream.name}: card {self.card.index} "
                           f"({self.card.name}) is disconnected")
        return self.substream

    # -- setup --

    def hw_params_any(self) -> hp.HwParams:
        """``snd_pcm_hw_params_any``: the whole space the hardware allows."""
        return self._fop().hw_refine()

    def set_params(self, fmt: str, channels: int, rate: int, period_size: int | None = None,
                   buffer_size: int | None = None, periods: int | None = None,
                   buffer_time_us: int = 500_000) -> hp.HwParams:
        """``snd_pcm_hw_params`` as aplay sets it up: format, channels and rate exactly,
        period and buffer as asked or as near as the hardware allows.

        Parameters
        ----------
        fmt : str
            The sample format's ALSA name (S16_LE, S24_LE, S32_LE, ...).
        channels, rate : int
            Set exactly; EINVAL names the one that cannot be met (with the nearest rate).
        period_size, buffer_size : int, optional
            Frames, set exactly. With only one, the other makes ``periods`` periods
            (four by default); with neither, ``buffer_time_us`` at most in four periods.
        periods : int, optional
            Periods in the buffer.
        buffer_time_us : int
            aplay's buffer time, where no size is given.

        Returns
        -------
        HwParams
            What was installed; the stream is in SETUP. A buffer that is not a whole
            number of periods is EINVAL on BUFFER_SIZE (docs/design-notes.md).
        """
        p = self.hw_params_any()
        number = pcm_format(fmt).number
        p.set_mask("FORMAT", {number})
        p.set_minmax("CHANNELS", channels, channels)
        p.set_minmax("RATE", rate, rate)
        try:
            p = self._fop().hw_refine(p)
        except ParamError as e:
            if e.param != "RATE":
                raise
            near = self.rate_near(fmt, channels, rate)
            raise ParamError("RATE", f"hw_params: RATE {rate} cannot be met (the nearest "
                             f"rate the hardware takes: {near})") from None
        if period_size is not None:
            p.set_minmax("PERIOD_SIZE", period_size, period_size)
            p = self._fop().hw_refine(p)
        if periods is not None:
            p.set_minmax("PERIODS", periods, periods)
            p = self._fop().hw_refine(p)
        if buffer_size is not None:
            p.set_minmax("BUFFER_SIZE", buffer_size, buffer_size)
            p = self._fop().hw_refine(p)
        if buffer_size is None and period_size is None:
            target = rate * buffer_time_us // 1_000_000
            if periods is None:
                p = self._set_near(p, "PERIOD_SIZE", max(target // 4, 1))
                p = self._set_near(p, "PERIODS", 4)
            else:
                p = self._set_near(p, "PERIOD_SIZE", max(target // periods, 1))
        elif periods is None and (buffer_size is None or period_size is None):
            p = self._set_near(p, "PERIODS", 4)  # aplay: a period is a quarter buffer
        chosen = hp.choose(p, self._fop().extra_rules())  # what hw_params will install
        n, buffer = chosen.get("PERIODS"), chosen.get("BUFFER_SIZE")
        if buffer % n:
            raise ParamError("BUFFER_SIZE", f"hw_params: BUFFER_SIZE {buffer} does not divide "
                             f"into {n} periods; the cyclic DMA needs whole periods")
        self._app_sw = None  # hw_params sets the kernel's sw_params to their defaults
        return self._fop().hw_params(p)

    def _set_near(self, p: hp.HwParams, name: str, value: int) -> hp.HwParams:
        """``snd_pcm_hw_param_set_near``: the allowed value nearest ``value``, found as
        alsa-lib finds it. The space cut to values at or above ``value`` and refined gives
        the first allowed one above, cut to values at or below it the last one below;
        the nearer is kept, the one above on a tie. The value is then set exactly, so
        that the parameters derived from it are whole. ``p`` as it was when neither side
        has a value."""
        sides = []
        for lo, hi, pick in ((value, hp.UINT_MAX, hp.Interval.refine_first),
                             (0, value, hp.Interval.refine_last)):
            q = p.copy()
            try:
                q.set_minmax(name, lo, hi)
                side = self._fop().hw_refine(q)[name]
                pick(side)
                v = side.value()
                q = p.copy()
                q.set_minmax(name, v, v)
                sides.append((abs(v - value), self._fop().hw_refine(q)))
            except ParamError:
                continue
        return min(sides, key=lambda s: s[0])[1] if sides else p

    def rate_near(self, fmt: str, channels: int, rate: int) -> int:
        """``snd_pcm_hw_params_set_rate_near`` on a copy: the rate nearest ``rate`` that
        the hardware takes with ``fmt`` and ``channels`` (what alsa-lib's plug asks of
        the hardware before it resamples). Nothing is set."""
        p = self.hw_params_any()
        p.set_mask("FORMAT", {pcm_format(fmt).number})
        p.set_minmax("CHANNELS", channels, channels)
        return self._set_near(self._fop().hw_refine(p), "RATE", rate)["RATE"].value()

    def sw_params(self, **fields: int) -> SwParams:
        """``snd_pcm_sw_params``: change fields by name, from the application's current
        ones (:meth:`sw_params_current`).

        Parameters
        ----------
        avail_min : int
            Frames free (playback) or ready (capture) before a blocked transfer wakes.
        start_threshold : int
            Frames queued (playback) or asked for (capture) that start the stream.
        stop_threshold : int
            Frames available at which the stream stops in XRUN; the boundary
            (``runtime.boundary``) to never stop.
        silence_threshold, silence_size : int
            Silence ahead of the DMA: threshold mode, or top-up mode with
            ``silence_size`` = boundary and ``silence_threshold`` 0.
        """
        sw = self.sw_params_current()
        for k, v in fields.items():
            if not hasattr(sw, k):
                raise ParamError(k, f"sw_params: no field {k!r}")
            setattr(sw, k, v)
        self._fop().sw_params(sw)
        self._app_sw = None
        return sw

    def sw_params_current(self) -> SwParams:
        """``snd_pcm_sw_params_current``: the application's sw_params, which alsa-lib
        keeps for itself; they differ from the kernel's only after a drain silence."""
        if self._app_sw is not None:
            return replace(self._app_sw)
        return self.substream.sw_params_current()  # alsa-lib's copy: no ioctl

    @property
    def runtime(self) -> PcmRuntime | None:
        return self.substream.runtime

    @property
    def state(self) -> PcmState:
        return self.substream.state

    # -- transfer --

    def prepare(self) -> None:
        """``snd_pcm_prepare``; first puts back the application's sw_params where a
        drain silence replaced them."""
        if self._app_sw is not None:
            self._fop().sw_params(self._app_sw)
            self._app_sw = None
        self._fop().prepare()

    def start(self) -> None:
        self._fop().start()

    def writei(self, frames: np.ndarray) -> int:
        """``snd_pcm_writei``: ``frames`` (``(n, channels)`` in the sample format) into the
        ring; the frames written. Starts the stream at start_threshold; EPIPE after an
        underrun (:meth:`recover`), EAGAIN when non-blocking and the ring is full."""
        return self._fop().writei(frames, self.nonblock)

    def readi(self, frames: int) -> np.ndarray:
        """``snd_pcm_readi``: up to ``frames`` frames as ``(n, channels)``. Starts a
        prepared capture; EPIPE after an overrun, EAGAIN when non-blocking and empty."""
        return self._fop().readi(frames, self.nonblock)

    def avail(self) -> int:
        """``snd_pcm_avail``: frames that can be written (playback) or read (capture)."""
        return self._fop().avail()

    def delay(self) -> int:
        """``snd_pcm_delay``: frames until a frame written now is heard (playback), or
        since a frame now readable was sampled (capture)."""
        return self._fop().delay()

    def forward(self, frames: int) -> int:
        return self._fop().forward(frames)

    def status(self):
        return self._fop().status()

    def pause(self, enable: bool) -> None:
        """``snd_pcm_pause``: RUNNING to PAUSED (``enable``) and back; ENOSYS where the
        hardware cannot pause, EBADFD in any other state."""
        self._fop().pause(enable)

    def drop(self) -> None:
        self._fop().drop()

    def drain(self) -> None:
        """``snd_pcm_drain``; for playback first the drain silence (see the module).

        SETUP is a no-op state here, as in alsa-lib (``bad_pcm_state``): a drain that has
        finished returns at once, so a non-blocking caller can call it until it stops
        raising EAGAIN (the kernel's drain says EAGAIN to every non-blocking call)."""
        ss = self._fop()
        rt = ss.runtime
        if rt is not None and rt.state == PcmState.SETUP:
            return
        if ss.is_playback and self.drain_silence and rt is not None and rt.state in (
                PcmState.RUNNING, PcmState.PREPARED):
            self._set_drain_silence(rt)
        ss.drain(self.nonblock)

    def _set_drain_silence(self, rt: PcmRuntime) -> None:
        sw = self.sw_params_current()
        slack = rt.rate // 10
        if rt.boundary % rt.period_size == 0:
            size = (-rt.appl_ptr) % rt.period_size + slack  # to the next period's end
        else:  # where that end lies is not known: a whole period
            size = rt.period_size + slack
        if sw.silence_size >= size:
            return
        threshold = min(rt.period_size + slack, rt.buffer_size)
        self._fop().sw_params(replace(sw, silence_threshold=threshold,
                                      silence_size=min(size, threshold)))
        self._app_sw = sw

    def resume(self) -> None:
        """``snd_pcm_resume``: back to the state the stream was suspended in."""
        self._fop().resume()

    def recover(self, err: PcmError) -> None:
        """``snd_pcm_recover``: prepare after EPIPE (xrun); after ESTRPIPE (suspended)
        resume, or prepare where the hardware cannot resume; re-raise anything else."""
        if err.errno == errno.EPIPE:
            self.prepare()
            return
        if err.errno == errno.ESTRPIPE:
            try:
                self.resume()
            except PcmError:
                self.prepare()
            return
        raise err

    def dump_setup(self) -> str:
        return dump_setup(self.substream, f"{self.card.index} {self.card.name!r}")

    def close(self) -> None:
        self.substream.close()


def open_pcm(name: str, stream: PcmStream, nonblock: bool = False) -> Pcm:
    """``snd_pcm_open``: open a PCM of a registered card.

    Parameters
    ----------
    name : str
        ``default`` (card 0, device 0) or ``hw:CARD,DEV`` (CARD an index or a name).
    stream : PcmStream
        PLAYBACK or CAPTURE.
    nonblock : bool
        Transfers and drain answer EAGAIN instead of waiting (``SND_PCM_NONBLOCK``).

    Returns
    -------
    Pcm
        In state OPEN; :meth:`Pcm.set_params` next. ENOENT for an unknown name.
    """
    card, device = find_card(name)
    return Pcm(card, device, stream, nonblock)
