#!/bin/sh
# 60 s of stress on JACK's dummy backend, with the capture looped back:
#   scripts/stress-jack.sh [extra stress options]
# Starts a private jackd, runs `dma-audio stress --duplex` with random stalls and CPU
# hogs, connects the client's outputs to its inputs, and leaves report.json and
# timeline.png here.
set -e
NAME=dmaaudio-stress
PY=${PY:-.venv/bin/python}
jackd -n "$NAME" --no-realtime -d dummy -r 48000 -p 256 >/dev/null 2>&1 &
JACKD=$!
trap 'kill $JACKD 2>/dev/null' EXIT
export JACK_DEFAULT_SERVER=$NAME
until jack_lsp -s "$NAME" >/dev/null 2>&1; do sleep 0.1; done
DEV=$($PY -c "import sounddevice as sd; print([d['index'] for d in sd.query_devices() if 'JACK' in sd.query_hostapis(d['hostapi'])['name']][0])")
$PY -m demos.cli stress -D "$DEV" --duplex --duration 60 --random-stalls 10 --hog 2 \
    --jitter 2 --seed 1 --json report.json --plot timeline.png "$@" &
STRESS=$!
until jack_lsp -s "$NAME" | grep -q PortAudio:in_1; do sleep 0.02; done
for k in 0 1; do
    jack_disconnect -s "$NAME" "system:capture_$((k + 1))" "PortAudio:in_$k" || true
    jack_connect -s "$NAME" "PortAudio:out_$k" "PortAudio:in_$k"
done
wait $STRESS
