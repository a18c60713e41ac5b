"""The ``dma-audio`` command line: play, capture, loopback, devices, dmatest, stress, bench.

Bad input gets one line on stderr and exit 2, never a traceback (docs/design-notes.md).
"""

from __future__ import annotations

import argparse  # noqa: E402, I001
import json  # noqa: E402
import math  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from demos import interrupt  # noqa: E402
from demos.entry import BEFORE as _BEFORE  # first: the early signal handlers
from demos.interrupt import Terminated, raise_interrupt  # noqa: E402
from demos.usage import UsageError  # noqa: E402

LOOPBACK_MIN_S = 0.01


def _whole(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _positive(text: str) -> int:
    value = _whole(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _nonneg(text: str) -> int:
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _rate(text: str) -> int:
    from demos.audiofile import RATES

    value = _whole(text)
    if not RATES[0] <= value <= RATES[1]:
        raise argparse.ArgumentTypeError(f"{text!r} Hz: {RATES[0]} to {RATES[1]} Hz")
    return value


def _channels(text: str) -> int:
    from demos.audiofile import MAX_CHANNELS

    value = _whole(text)
    if not 1 <= value <= MAX_CHANNELS:
        raise argparse.ArgumentTypeError(f"{text!r}: 1 to {MAX_CHANNELS} channels")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        raise UsageError(f"{self.prog}: {message}")


def _cmd_dmatest(args: argparse.Namespace) -> int:
    from demos.interrupt import stop_requested
    from dma.dmatest import DmatestParams, dmatest
    from soc.board import make_board

    if args.alignment > 6:
        raise UsageError(f"dmatest: --alignment {args.alignment} is above 6 (64 bytes)")
    if (1 << args.alignment) > args.buf_size:
        raise UsageError("dmatest: --alignment is larger than --buf-size")
    board = make_board(dmac=args.dmac, adma=args.test in ("xor", "pq"))
    board.populate()
    try:
        if args.inject_corruption:
            from soc.faults import FaultInjector

            FaultInjector(board.soc).corrupt_data(
                args.inject_corruption, args.seed + 1,
                dmac="adma0" if args.test in ("xor", "pq") else "dma0")
        params = DmatestParams(
            test=args.test,
            iterations=args.iterations,
            buf_size=args.buf_size,
            alignment=args.alignment,
            norandom=args.norandom,
            noverify=args.noverify,
            polled=args.polled,
            timeout_ms=args.timeout,
            seed=args.seed,
            verbose=args.verbose,
            xor_sources=args.xor_sources,
            pq_sources=args.pq_sources,
        )
        log = (lambda s: None) if args.json else print
        with stop_requested() as stop:  # --iterations 0 runs until Ctrl-C or SIGTERM
            thread, result = dmatest(
                params, board.soc.clock.run_until_true, channel=args.channel, log=log,
                stop=stop,
            )
    finally:
        board.remove()
    if args.json:
        reasons = ", ".join(f"{k}: {v}" for k, v in result.reasons.items())
        if reasons:
            print(f"failures: {reasons}", file=sys.stderr)
        print(json.dumps({"tests": result.tests, "failures": result.failures,
                          "iops": round(result.iops, 2), "kbps": result.kbps}))
    else:
        print(result.summary(thread))
    return 1 if result.failures else 0


def _cmd_devices(args: argparse.Namespace) -> int:
    from soc.portaudio import default_output_device, list_devices

    rows = list_devices()
    width = max(len(str(r.name)) for r in rows)
    print(f"{'':2}{'index':>7}  {'name':<{width}}  {'host API':<26} {'out':>3} {'in':>3}  rate")
    for r in rows:
        mark = ("<" if r.default_output else " ") + (">" if r.default_input else " ")
        print(f"{mark}{str(r.index):>7}  {r.name:<{width}}  {r.hostapi:<26} "
              f"{r.max_output_channels:>3} {r.max_input_channels:>3}  {r.default_samplerate:g}")
    device, why = default_output_device()
    print(f"play uses: {device} ({why})")
    return 0


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _number(text: str, what: str = "a number") -> float:
    """A finite float (inf and nan are no numbers of seconds, rates or milliseconds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite: {text!r}")
    return value


JITTER_MAX_MS = 10_000  # a mean delay between writes of more is no stress test


def _jitter_ms(text: str) -> float:
    value = _nonneg_float(text)
    if value > JITTER_MAX_MS:
        raise argparse.ArgumentTypeError(f"{text!r} ms: at most {JITTER_MAX_MS} ms")
    return value


def _seconds(text: str) -> float:
    value = _number(text, "a number of seconds")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _nonneg_float(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _speed(text: str) -> float:
    value = _number(text)
    if not 0.01 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0.01 and 1: {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text!r}")
    return value


def _format(text: str) -> str:
    from pcm.formats import pcm_format

    try:
        return pcm_format(text).name
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _stream_options(p: argparse.ArgumentParser, json_flag: bool = True) -> None:
    p.add_argument("-D", "--device", help="a sound device (index or name, see 'devices'), "
                   "or 'virtual' for the built-in card")
    p.add_argument("-r", "--rate", type=_rate, help="sample rate in Hz")
    p.add_argument("-c", "--channels", type=_channels, help="channels per frame")
    p.add_argument("-f", "--format", type=_format,
                   help="S8, U8, S16_LE, S24_LE, S32_LE or FLOAT_LE (the hardware takes "
                   "S16_LE, S24_LE and S32_LE; play and capture convert the others, as "
                   "alsa-lib's plug does)")
    p.add_argument("--period-size", type=_positive,
                   help="frames per period (default, as aplay: a buffer of 500 ms at most "
                   "in 4 periods, as near as the hardware allows)")
    p.add_argument("--buffer-size", type=_positive, help="frames in the ring")
    p.add_argument("--periods", type=_positive,
                   help="periods in the ring (default 4, or what --period-size and "
                   "--buffer-size make)")
    p.add_argument("--clock", choices=("card", "wall", "virtual"),
                   help="time source (default: card for a sound device, wall for the "
                   "virtual card)")
    _dmac_option(p)
    p.add_argument("-v", "--verbose", action="store_true",
                   help="dump hw_params, sw_params and the DMA setup (as aplay -v)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no live progress line")
    p.add_argument("--live", action="store_true",
                   help="a live view (about 20 Hz): the ring as its periods with hw_ptr, "
                   "appl_ptr and the DMA's position, the silence filled, the I2S FIFO, "
                   "interrupts, tasklet runs, xruns, the PCM's and the DMA's states (the "
                   "plain progress line where stderr is no terminal)")
    p.add_argument("--speed", type=_speed, metavar="F",
                   help="with --clock virtual: run the virtual clock at F times real "
                   "time (0.01 to 1), to watch a period fill; the tap still records")
    p.add_argument("--trace", metavar="FILE",
                   help="write the run to FILE in ftrace's text format (snd_pcm, irq, "
                   "softirq and sched_switch events, and the DMA's and the I2S's), which "
                   "trace viewers such as Perfetto's open")
    p.add_argument("--trace-json", metavar="FILE",
                   help="write the run to FILE in the Chrome trace-event format (slices, "
                   "counters of the pointers and the FIFO, instants of xruns and faults)")
    if json_flag:
        p.add_argument("--json", action="store_true",
                       help="print a JSON summary as the last line")


def _dmac_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dmac", choices=("pl080", "pl330"), default="pl080",
                   help="the board's DMA controller: the PL080 (LLIs, amba-pl08x) or the "
                   "PL330 (microcode, pl330) (default pl080)")


def _rt_priority_option(p: argparse.ArgumentParser, who: str) -> None:
    p.add_argument("--rt-priority", type=_positive, metavar="N",
                   help=f"run the {who} and the stack's threads SCHED_FIFO N, as a "
                   "low-latency client does (needs root, CAP_SYS_NICE or RLIMIT_RTPRIO)")


def _session(args: argparse.Namespace, capture: bool = False, **endpoint):
    from demos.session import open_session

    if args.trace or args.trace_json:
        from demos.outputs import check_output

        for out in (args.trace, args.trace_json):
            if out is not None:
                check_output(out)
    sess = open_session(args.device, args.clock, capture, dmac=args.dmac,
                        speed=args.speed, **endpoint)
    if args.trace or args.trace_json:
        try:
            sess.trace_to(args.trace, args.trace_json)
        except BaseException:
            sess.close()
            raise
    _say(f"{'Source' if capture else 'Sink'}: {sess.endpoint.describe()} ({sess.why}); "
         f"clock: {sess.clock_kind}")
    return sess


def _cmd_play(args: argparse.Namespace) -> int:
    if args.list:
        return _cmd_devices(args)
    from demos.audiofile import AudioInput
    from demos.outputs import check_output
    from demos.play import TapWriter, demo_sound, play_one
    from demos.sched import fifo_priority

    if args.files.count("-") > 1:
        raise UsageError("play: standard input ('-') can be read once")
    for out in (args.tap, args.trace, args.trace_json):
        if out is not None:
            check_output(out, tuple(args.files))
    sources = []
    try:
        for path in args.files:  # each file's header, before anything plays
            sources.append(AudioInput(path))
        if not sources:
            sources = [demo_sound()]
        results: list[dict] = []
        with fifo_priority(args.rt_priority):  # the session's threads inherit it
            sess = _session(args, tap=bool(args.tap))
            lengths = [src.length for src in sources]
            hint = None if None in lengths else 2 * sum(lengths) + 192000 * len(lengths)
            tap = TapWriter(args.tap, _say, hint) if args.tap else None
            try:
                with sess.loss_reported():  # a lost device is reported as the loss
                    for src in sources:
                        results.append(play_one(sess, src, args, _say, tap))
            finally:
                try:
                    if tap is not None:
                        tap.drain(sess)
                finally:
                    if tap is not None:
                        tap.close()
                    sess.close()
    finally:
        for src in sources:
            src.close()
    if args.json:
        print(json.dumps({"played": results}))
    return 0


def _capture_source(args: argparse.Namespace, path: str):
    """What the virtual card hears: the file, at the rate, channels and word length the
    bus runs at (converted as the plug does, and said, when the card starts), read a
    block at a time as the card asks. The capture takes the file's format, channels and
    rate where -f, -c and -r do not say."""
    from demos.audiofile import AudioInput
    from demos.plug import WORD_FORMAT, Converter, plan_exact

    src = AudioInput(path)
    args.format, args.channels = args.format or src.format, args.channels or src.channels
    args.rate = args.rate or src.rate

    def hears(rate: int, channels: int, bits: int) -> Callable[[int], np.ndarray]:
        p = plan_exact(WORD_FORMAT[bits], channels, rate, (src.format, src.channels,
                                                           src.rate))
        if p.notes:
            _say(f"source: {'; '.join(p.notes)}")
        conv = Converter(src.format, src.rate, p)
        held = [np.zeros((0, channels), np.int32)]
        ended = [False]

        def frames(n: int) -> np.ndarray:
            while len(held[0]) < n and not ended[0]:
                block = src.read(max(n, 4096))
                more = conv.push(block) if len(block) else conv.finish()
                ended[0] = not len(block)
                held[0] = np.concatenate([held[0], more.astype(np.int32)])
            out, held[0] = held[0][:n], held[0][n:]
            if len(out) < n:  # past the file's end the card hears silence
                out = np.concatenate([out, np.zeros((n - len(out), channels), np.int32)])
            return out

        return frames

    return src, hears


def _cmd_capture(args: argparse.Namespace) -> int:
    from demos.capture import WAV_FORMATS, capture
    from demos.outputs import check_output
    from demos.sched import fifo_priority

    for out in (args.output, args.trace, args.trace_json):
        if out is not None:
            check_output(out, (args.source,) if args.source else ())
    if args.format and args.format not in WAV_FORMATS:  # as arecord refuses it
        raise UsageError(f"-f {args.format}: a WAV file cannot hold it (it holds "
                         f"{', '.join(WAV_FORMATS[:-1])} or {WAV_FORMATS[-1]})")
    src, source = None, None
    if args.source:
        if args.device is None:
            args.device = "virtual"  # only the virtual card can hear a file
        src, source = _capture_source(args, args.source)
    try:
        with fifo_priority(args.rt_priority):  # the session's threads inherit it
            sess = _session(args, capture=True, source=source)
            try:
                with sess.loss_reported():
                    result = capture(sess, args.output, args.duration, args, _say)
            finally:
                sess.close()
    finally:
        if src is not None:
            src.close()
    if args.json:
        print(json.dumps(result))
    return 0


def _cmd_loopback(args: argparse.Namespace) -> int:
    from demos.loopback import loopback
    from demos.sched import fifo_priority

    if args.device is None:
        args.device = "virtual"
    if args.seconds < LOOPBACK_MIN_S:  # too short to find in the capture
        raise UsageError(f"loopback: --seconds {args.seconds:g} is shorter than the "
                         f"{LOOPBACK_MIN_S * 1000:g} ms the latency is measured on")
    with fifo_priority(args.rt_priority):  # the session's threads inherit it
        sess = _session(args, loop=True)
        try:
            with sess.loss_reported():
                result = loopback(sess, args, _say)
        finally:
            sess.close()
    if args.json:
        print(json.dumps(result))
    return 0 if result["bit_exact"] else 1


def _cmd_stress(args: argparse.Namespace) -> int:
    from demos.sched import fifo_priority
    from demos.stress_cmd import stress_command

    with fifo_priority(args.rt_priority):  # the session's threads inherit it
        return stress_command(args, _say)


def _cmd_bench(args: argparse.Namespace) -> int:
    from demos.bench import bench_command

    return bench_command(args, _say)


def _stress_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", nargs="?", metavar="IN.wav",
                   help="what to play (default: a generated glide with unique frames)")
    _stream_options(p, json_flag=False)
    p.add_argument("--duration", type=_seconds, help="seconds (default 10, or the file's)")
    p.add_argument("--tap", metavar="OUT.wav", help="save exactly what reached the card")
    p.add_argument("--on-xrun", choices=("stop", "run", "silence"), default="stop",
                   help="stop: XRUN and prepare (default); run: free-running, the DMA "
                   "replays the stale ring; silence: free-running with silence top-up")
    p.add_argument("--stall", action="append", default=[], metavar="AT:DURATION",
                   help="the writer does nothing for DURATION seconds from AT (repeatable)")
    p.add_argument("--random-stalls", type=_nonneg, default=0, metavar="N",
                   help="N seeded stalls of 0.5 to 2 buffer times")
    p.add_argument("--jitter", type=_jitter_ms, default=0.0, metavar="MEAN_MS",
                   help="seeded exponential delay between writes, mean in ms (up to "
                   f"{JITTER_MAX_MS})")
    p.add_argument("--seed", type=_nonneg, default=0,
                   help="seed of the random stalls, jitter and lost interrupts (default 0)")
    p.add_argument("--hog", type=_nonneg, default=0, metavar="N",
                   help="real time only: N threads of busy work and GIL-holding sorts")
    p.add_argument("--irq-latency", type=_nonneg_float, default=0.0, metavar="MS",
                   help="bottom halves run this long after their interrupt")
    p.add_argument("--lose-irqs", type=_fraction, default=0.0, metavar="RATE",
                   help="this fraction of interrupt deliveries is lost (seeded)")
    p.add_argument("--bus-error", type=_nonneg_float, metavar="AT",
                   help="the DMA's next read of the ring after AT seconds gets a bus error")
    p.add_argument("--dma-starve", action="append", default=[], metavar="AT:DURATION",
                   help="the DMA stops serving the I2S TX request: the FIFO runs dry")
    p.add_argument("--unplug", type=_nonneg_float, metavar="AT",
                   help="the far end goes away at AT seconds: the card is disconnected, "
                   "as with a lost sound device (exit status 1)")
    p.add_argument("--duplex", action="store_true",
                   help="capture at the same time; analyse the looped-back capture "
                   "(the virtual card loops; on a server, connect its output to its input)")
    p.add_argument("--sweep", nargs="?", const="64,128,256,512,1024,2048,4096",
                   metavar="SIZES", help="run once per period size (comma list) and "
                   "report xruns and CPU against it")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="draw the timeline (or the sweep)")


class _Version(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None) -> None:
        from demos.version import version_line

        print(version_line())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dma-audio", description=(
        "Play, capture and stress audio through a model of Linux's cyclic-DMA stack: an "
        "ALSA/ASoC PCM, the DMA engine with virt-dma, a PL080-style DMA controller and a "
        "DW-style I2S controller, with a sound card (or the virtual card) at the far end."))
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="the version, and which build runs (compiled or pure Python)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("dmatest", help="test a DMA channel the way drivers/dma/dmatest.c does")
    p.add_argument("--test", choices=("memcpy", "memset", "xor", "pq"), default="memcpy",
                   help="the operation to test (default memcpy); xor and pq run on the "
                   "board's XOR and P+Q engine")
    p.add_argument("--xor-sources", type=_positive, default=3,
                   help="sources of an xor test (the module's xor_sources; made odd)")
    p.add_argument("--pq-sources", type=_positive, default=3,
                   help="sources of a pq test (the module's pq_sources; made odd)")
    p.add_argument("--iterations", type=_nonneg, default=1000,
                   help="tests to run (default 1000; 0: until Ctrl-C or SIGTERM, as the "
                   "module's default 0 runs until stopped)")
    p.add_argument("--buf-size", type=_positive, default=16384, help="test_buf_size in bytes")
    p.add_argument("--alignment", type=_nonneg, default=0,
                   help="log2 of the offset and length alignment (default 0: bytes)")
    p.add_argument("--norandom", action="store_true", help="full-size, offset-0 transfers")
    p.add_argument("--noverify", action="store_true", help="skip the data verification")
    p.add_argument("--polled", action="store_true", help="poll tx_status, no callback")
    p.add_argument("--channel", help="a channel name such as dma0chan1 (default: any)")
    _dmac_option(p)
    p.add_argument("--timeout", type=_positive, default=3000, help="per test, in ms")
    p.add_argument("--seed", type=_nonneg, default=0,
                   help="seed of the lengths, offsets and injected faults (default 0)")
    p.add_argument("--inject-corruption", type=_fraction, default=0.0, metavar="RATE",
                   help="fault injection: flip a bit in this fraction of DMA bursts")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="a line for each test that passed, as the module's verbose=1")
    p.add_argument("--json", action="store_true",
                   help='print {"tests", "failures", "iops", "kbps"} as the last line')
    p.set_defaults(func=_cmd_dmatest)

    from demos.raid import add_parser as add_raid

    add_raid(sub)

    p = sub.add_parser("devices", help="list sound devices (< default output, > default input)")
    p.set_defaults(func=_cmd_devices)

    p = sub.add_parser("play", help="play WAV files (or the demo sound) through the cyclic "
                       "DMA path")
    p.add_argument("files", nargs="*", metavar="FILE.wav",
                   help="WAV files to play in turn (none: the bundled demo sound)")
    _stream_options(p)
    p.add_argument("--tap", metavar="OUT.wav", help="save exactly what reached the card")
    p.add_argument("-l", "--list", action="store_true", help="list sound devices")
    _rt_priority_option(p, "writer")
    p.set_defaults(func=_cmd_play)

    p = sub.add_parser("capture", help="capture into a WAV through the DEV_TO_MEM cyclic path")
    p.add_argument("output", metavar="OUT.wav", help="the WAV file to write")
    p.add_argument("-d", "--duration", type=_seconds, required=True,
                   help="seconds to capture")
    _stream_options(p)
    p.add_argument("--source", metavar="IN.wav",
                   help="what the virtual card hears (so -D virtual unless -D is given); "
                   "the capture takes the file's format, channels and rate unless -f, -c "
                   "or -r ask otherwise")
    _rt_priority_option(p, "reader")
    p.set_defaults(func=_cmd_capture)

    p = sub.add_parser("loopback", help="play a test signal and capture it at once; report "
                       "latency and bit-exactness")
    _stream_options(p)
    p.add_argument("--seconds", type=_seconds, default=1.0, help="length of the test signal")
    _rt_priority_option(p, "writer and reader")
    p.set_defaults(func=_cmd_loopback)

    p = sub.add_parser("stress", help="underruns on purpose: a stream under scripted and "
                       "random faults, with a report")
    _stress_options(p)
    _rt_priority_option(p, "writer (not the --hog threads)")
    p.set_defaults(func=_cmd_stress)

    p = sub.add_parser("bench", help="throughput against a numpy floor, real-time CPU against "
                       "a bare sounddevice callback, kselftest timing, dmatest")
    p.add_argument("--quick", action="store_true",
                   help="a few seconds per part (the full run takes several minutes)")
    p.add_argument("--parts", default="offline,realtime,timing,dmatest,memory",
                   help="which parts to run (comma list; default all)")
    p.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    p.set_defaults(func=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    from dma.errors import DmaEngineError
    from pcm.errors import PcmError
    from soc.sound_device import DeviceError

    running = [False]
    interrupt.received.clear()
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):  # from here, the run's own handling
            signal.signal(sig, raise_interrupt)
        args = build_parser().parse_args(argv)
        args.command_line = ["dma-audio", *(sys.argv[1:] if argv is None else argv)]
        running[0] = True
        return args.func(args)
    except UsageError as e:
        print(str(e), file=sys.stderr)
        return 2
    except (DmaEngineError, PcmError) as e:
        print(f"dma-audio: {e.strerror}", file=sys.stderr)
        return 2
    except DeviceError as e:
        print(f"dma-audio: sound device lost: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print("dma-audio: interrupted", file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(e, Terminated) else signal.SIGINT)
    except Exception as e:
        if interrupt.received:  # the signal, come out as another error (an import's)
            print("dma-audio: interrupted", file=sys.stderr)
            return 128 + interrupt.received[0]
        if not isinstance(e, (OSError, ValueError)):
            raise
        where = f": {e.filename}" if isinstance(e, OSError) and e.filename else ""
        text = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        print(f"dma-audio: {text.splitlines()[0] if text else type(e).__name__}{where}",
              file=sys.stderr)
        return 1 if running[0] else 2
    finally:  # a caller in the same process (the tests) gets its handlers back
        for sig, handler in _BEFORE.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
