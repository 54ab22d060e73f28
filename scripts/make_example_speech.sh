#!/usr/bin/env bash
# Rebuilds examples/speech.wav, the bundled example speech (espeak-ng, 16 kHz mono).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp --suffix=.wav)
trap 'rm -f "$tmp"' EXIT
espeak-ng -v en-us -s 150 -w "$tmp" "Hello! I am a talking head made with PoseTalk for Blender. \
When I speak, my head moves with my voice. I can nod, look around, and pause... before I go on."
sox "$tmp" -r 16000 -b 16 examples/speech.wav
