"""Choose the diffusion model's sampler settings on a validation set, never on the evaluation's prompts.

The validation prompts come from the corpus's own caption generator (scripts/build_corpus.py) with a seed of
their own, kept only where each "then" segment names an action (at normal or large size) or a calm or energetic
mood, so that the evaluation's classifier (scripts/eval_pose.py) has one clear label to expect. The speech is
the test speech of the families the model trains on (espeak-ng and Piper). Each setting of ``guidance`` (on the
prompt), ``audio_guidance`` (on the speech), ``steps``, ``pause_calm`` (quick motion settled in pauses), the guidance
interval and the posture's (``posture_guidance``, ``posture_seconds``) is
measured with the evaluation's own measures, and the JSON printed lists them per setting, next to the keyword
model on the same prompts.

    .venv/bin/python scripts/tune_pose_sampler.py --guidance 2 3 4 5 --keywords --out data/tune.json
    .venv/bin/python scripts/tune_pose_sampler.py --audio-guidance 1.5 2.5 --out data/tune_audio.json
    .venv/bin/python scripts/tune_pose_sampler.py --posture-seconds 0 0.64 1.12 --out data/tune_slow.json
    .venv/bin/python scripts/tune_pose_sampler.py --weights data/pld_new.safetensors --out data/tune_new.json

``--prompts FILE`` validates on a set written for one label instead (a JSON list of [prompt, [label, ...]]);
none of its prompts may be one of the evaluation's. The evaluation's prompt sets (A-F) and the held-out and test
families are not used here.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from build_corpus import caption, sample_style  # noqa: E402
from eval_pose import PROMPT_SETS, SCALES, Speech, backend_of, evaluate, print_report, summary, weights_label  # noqa: E402
from voices import TRAIN_FAMILIES  # noqa: E402

from engine.params import default  # noqa: E402

VALIDATION_SEED = 20261202  # the validation prompts' own seed (the corpus uses small seeds)
LABELS = set(SCALES) | {"calm", "energetic"}  # what the evaluation's classifier can say
AVERAGED = ("calm_accuracy", "left_right_confusion", "beat_align_ratio", "diversity_deg", "silence_deg_s")
AVERAGED += ("speech_deg_s", "mean_jerk_deg_s3", "seam_jump_ratio", "seconds_for_60s")  # printed as the families' mean
EVALUATION_PROMPTS = frozenset(p.lower() for prompts in PROMPT_SETS.values() for p, _ in prompts)  # never validated on


def validation_prompts(count: int, seed: int = VALIDATION_SEED) -> list[tuple[str, list[str]]]:
    """Generated captions with one clear expected label per segment, none from the evaluation's sets, each label
    expected ``ceil(count / len(LABELS))`` times (so about ``count`` labels in all; rare ones, such as a calm or
    energetic mood alone, are drawn until they have their share)."""
    rng = np.random.default_rng(seed)
    share = int(np.ceil(count / len(LABELS)))
    uses = dict.fromkeys(LABELS, 0)
    out: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    for _ in range(1_000_000):
        if min(uses.values()) >= share:
            break
        _style, label = sample_style(rng)  # one mood: one clear label per segment
        if label["amplitude"] < 1.0:  # subtle actions are meant to stay under the classifier's thresholds
            continue
        actions = label["actions"]
        if actions == ["none"]:
            if label["mood"] not in ("calm", "energetic"):
                continue
            expected = [label["mood"]]
        else:
            expected = list(actions)
        if not set(expected) <= LABELS or any(uses[e] >= share for e in expected):
            continue
        text = caption(rng, label)
        if text.lower() in EVALUATION_PROMPTS or text.lower() in seen:
            continue
        seen.add(text.lower())
        for e in expected:
            uses[e] += 1
        out.append((text, expected))
    return out


def prompts_file(path: str) -> list[tuple[str, list[str]]]:
    """Validation prompts from a JSON list of [prompt, [label, ...]]; a label the classifier cannot say stops here."""
    with open(path) as fh:
        items = json.load(fh)
    out = [(str(p), [str(x) for x in labels]) for p, labels in items]
    unknown = sorted({x for _, labels in out for x in labels} - LABELS)
    if unknown:
        raise SystemExit(f"{path}: labels the classifier cannot say: {', '.join(unknown)}")
    if any(p.lower() in EVALUATION_PROMPTS for p, _ in out):
        raise SystemExit(f"{path}: a prompt of the evaluation's sets; validation keeps to its own")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # each list defaults to the engine's own default (engine/params.py)
    ap.add_argument("--guidance", type=float, nargs="+", default=[default("pose", "guidance")])
    ap.add_argument("--audio-guidance", type=float, nargs="+", default=[default("pose", "audio_guidance")])
    ap.add_argument("--steps", type=int, nargs="+", default=[default("pose", "steps")])
    ap.add_argument("--pause-calm", type=float, nargs="+", default=[default("pose", "pause_calm")],
                    help="quick motion settled in pauses")  # fmt: skip
    ap.add_argument("--guidance-interval", type=float, nargs=2, action="append", metavar=("LO", "HI"),
                    help="sampler times (1: noise, 0: clean) between which guidance acts (repeat; default: the engine's)")  # fmt: skip
    ap.add_argument("--posture-guidance", type=float, nargs="+", default=[default("pose", "posture_guidance")],
                    help="share of the guidance on each window's posture")  # fmt: skip
    ap.add_argument("--posture-seconds", type=float, nargs="+", default=[default("pose", "posture_seconds")],
                    help="the posture: the motion averaged over this many seconds (0: each window's mean)")  # fmt: skip
    ap.add_argument("--labels", type=int, default=96, help="expected labels in all (each label equally often)")
    ap.add_argument("--prompt-seed", type=int, default=VALIDATION_SEED, help="seed of the validation prompts")
    ap.add_argument("--family", action="append", choices=TRAIN_FAMILIES, help="speech (default: both trained on)")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keywords", action="store_true", help="also measure the keyword model on the same prompts")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    ap.add_argument("--weights", default=None, help="pld weights to measure (default: the shipped ones)")
    ap.add_argument(
        "--prompts",
        default=None,
        help="a JSON list of [prompt, [label, ...]] to validate on instead of the generated captions (e.g. a set "
        "written for one label)",
    )
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    prompts = prompts_file(args.prompts) if args.prompts else validation_prompts(args.labels, args.prompt_seed)
    sets = {"V": prompts}
    families = args.family or list(TRAIN_FAMILIES)
    t0 = time.time()
    speech = {f: Speech(f) for f in families}
    report: dict[str, object] = {
        "seed": None if args.prompts else args.prompt_seed,
        "prompts": prompts,
        "families": families,
        "settings": [],
    }
    report["weights"] = weights_label(args.weights)
    pld = backend_of("pld", args.weights)
    pld.model()
    noop = lambda *a: None  # noqa: E731
    intervals = args.guidance_interval or [(default("pose", "guidance_until"), 1.0)]
    grid = itertools.product(args.guidance, args.audio_guidance, args.steps, args.pause_calm, intervals,
                             args.posture_guidance, args.posture_seconds)  # fmt: skip
    runs = [("pld", {"guidance": g, "audio_guidance": a, "steps": s, "pause_calm": c, "guidance_until": i[0],
                     "guidance_from": i[1], "posture_guidance": q, "posture_seconds": w})
            for g, a, s, c, i, q, w in grid]  # fmt: skip
    if args.keywords:
        runs.append(("procedural", {}))
    for name, opts in runs:
        backend = pld if name == "pld" else backend_of(name)

        def gen(f, p, s, pins=None, backend=backend, opts=opts):  # noqa: ANN001, ANN202
            return np.asarray(backend.generate(f, p, s, pins, noop, **opts))

        per_family = {}
        for f in families:
            result = evaluate(gen, speech[f], args.seeds, sets)
            per_family[f] = {**summary(result), "silence_deg_s": result["speed_silence_deg_s"],
                             "speech_deg_s": result["speed_speech_deg_s"], "confusions": result["confusions"]}  # fmt: skip
        row = {"backend": name, **opts, "families": per_family}
        for key in AVERAGED:
            row[key] = round(float(np.mean([r[key] for r in per_family.values()])), 3)
        row["adherence"] = round(float(np.mean([r["adherence"]["V"] for r in per_family.values()])), 3)
        print(json.dumps({k: v for k, v in row.items() if k != "families"}), file=sys.stderr)
        report["settings"].append(row)
    report["seconds_total"] = round(time.time() - t0, 1)
    print_report(report, args.out)


if __name__ == "__main__":
    main()
