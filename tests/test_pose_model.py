"""The Pose Latent Diffusion backend: shipped weights, shapes, determinism, pins, seams, safe loading, training."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.audio import load_features
from engine.backends import get_backend
from engine.errors import BadInput
from engine.pose.conditioning import (
    MOOD_FEATURES,
    SEGMENT_FEATURES,
    part_prompts,
    segment_direction,
    segment_moods,
    segment_texts,
)
from engine.pose.config import BEFORE_ENTRY, PLDConfig
from engine.pose.pipeline import PLDModel
from engine.pose.weights import DEFAULT_PATH, git_commit, load_weights
from engine.pose.windows import WINDOW, seam_frames

ROOT = Path(__file__).resolve().parents[1]
LONG_TEXT = (
    "Good evening. Tonight we talk about the history of the old harbour, the ships that came and went, "
    "and the people who built the town around it. It is a long story, so let us begin at the start. "
    "Many years ago, a small group of fishermen arrived on this coast."
)


def _noop(done: int, total: int, message: str) -> None:
    return None


def _two_windows(model: PLDModel, rows: torch.Generator):  # noqa: ANN202
    """Conditions of two sampler windows of "nods while talking, then turns to the left", their audio drawn from
    ``rows``, no known tokens."""
    from engine.pose.denoiser import Conditions
    from engine.pose.pipeline import edge_seconds
    from engine.pose.vae import DOWN

    cfg, frames = model.config, WINDOW * DOWN
    text, segs, weights = model.text_conditions("nods while talking, then turns to the left", frames)
    return Conditions(
        audio=torch.randn((2, WINDOW, DOWN * cfg.audio_features), generator=rows),
        text=text[None].expand(2, -1),
        segments=segs[None].expand(2, -1, -1),
        weights=torch.from_numpy(np.asarray(weights[:WINDOW], np.float32))[None].expand(2, -1, -1),
        edges=torch.from_numpy(edge_seconds(frames)[:WINDOW])[None].expand(2, -1, -1),
        known=torch.zeros(2, WINDOW, cfg.latent),
        mask=torch.zeros(2, WINDOW, 1),
    )


# Every 40th pose frame of the shipped weights (`make weights`, seed 0) for speech_wav, "nods slowly, then looks to
# the left", seed 3, the default sampler settings (guidance 5 since 2026-12-03, pause_calm 0.5 since 2026-12-02,
# guidance on the noisier steps only, guidance_until 0.4, since 2026-12-03, the posture left to the conditional
# branch, posture_guidance 0, since 2026-12-04, the posture the prompt's effect averaged over 0.64 s outside calm
# windows, posture_seconds 0.64, since 2026-12-05): a change to the sampler, the conditioning or the weights shows
# here. Weights retrained by `make weights` change it: record it again from them.
SHIPPED_REFERENCE = [
    [-3.1783, 0.3247, -0.4406, -0.0043, -0.0132, 1.0004],
    [-5.2209, -1.0254, -0.0391, 0.0011, -0.0091, 1.0055],
    [-1.7620, 0.6335, -0.1787, 0.0028, -0.0039, 1.0083],
    [1.7966, -24.0967, -1.6443, -0.0686, -0.0029, 0.9945],
    [-1.7936, -18.9500, -0.4579, -0.0635, -0.0088, 1.0014],
]
# The same with each window's mean as the posture (posture_seconds 0, the default until 2026-12-05) ...
SHIPPED_REFERENCE_WINDOW_POSTURE = [
    [-3.7604, 0.7055, -0.9047, 0.0009, -0.0174, 1.0032],
    [-2.4872, -2.1231, -0.1106, -0.0006, -0.0057, 1.0039],
    [1.5934, 3.5202, -0.0935, 0.0108, -0.0001, 1.0059],
    [-0.7789, -28.2448, -1.4349, -0.0913, -0.0050, 0.9996],
    [-2.5110, -23.2710, -1.2935, -0.0816, -0.0102, 1.0023],
]
# The same with the posture guided as the rest (posture_guidance 1, the default before 2026-12-04) ...
SHIPPED_REFERENCE_POSTURE_GUIDED = [
    [-3.2814, -0.1724, -0.4706, -0.0025, -0.0098, 1.0002],
    [-2.5063, -2.3958, 0.1056, -0.0028, -0.0024, 1.0015],
    [1.9279, 3.5816, 0.1337, 0.0088, 0.0043, 1.0042],
    [-1.5763, -30.4700, -1.6583, -0.0998, 0.0010, 0.9984],
    [-2.4000, -26.9915, -1.0109, -0.0934, -0.0041, 1.0016],
]
# ... at guidance 3 (the default before the evening of 2026-12-03)
SHIPPED_REFERENCE_GUIDANCE_3 = [
    [-2.6662, 0.2765, -0.4722, -0.0029, -0.0102, 1.0010],
    [-3.4017, -1.1067, -0.0946, 0.0000, -0.0043, 1.0032],
    [0.6674, 3.0830, -0.0837, 0.0082, 0.0014, 1.0058],
    [-0.5100, -29.5343, -1.7439, -0.0933, -0.0002, 0.9971],
    [-2.4757, -24.7675, -0.7299, -0.0848, -0.0062, 1.0012],
]
# ... and at guidance 3 on every step (guidance_until 0), the default before 2026-12-03
SHIPPED_REFERENCE_GUIDED_THROUGHOUT = [
    [-3.3530, 0.0944, -0.5505, -0.0015, -0.0085, 0.9999],
    [-3.4426, -1.4015, 0.1030, -0.0011, -0.0035, 1.0023],
    [0.6563, 2.2177, -0.2167, 0.0056, 0.0030, 1.0030],
    [-0.2995, -28.8677, -1.7735, -0.0926, 0.0000, 0.9973],
    [-1.7760, -24.6687, -0.6641, -0.0836, -0.0048, 1.0004],
]


@pytest.fixture(scope="module")
def model() -> PLDModel:
    torch.set_num_threads(2)
    return PLDModel.load(DEFAULT_PATH)


@pytest.fixture(scope="module")
def long_features(espeak):
    return load_features(str(espeak(LONG_TEXT, rate=150)), 25.0)


def test_shipped_weights_are_small_safetensors_with_metadata() -> None:
    assert DEFAULT_PATH.endswith(".safetensors") and os.path.getsize(DEFAULT_PATH) < 20 * 2**20
    _tensors, meta = load_weights(DEFAULT_PATH)
    for key in ("corpus_seed", "train_seed", "denoiser_steps", "vae_steps", "git_commit", "config"):
        assert key in meta, key
    assert meta["denoiser_steps"] > 100


def test_weights_name_the_commit_and_any_changes_to_it(tmp_path: Path) -> None:
    """The weights' ``git_commit``: the checkout's commit, "+changes" where a tracked file differs from it (untracked
    files, such as a corpus or weights being made, do not count), "unknown" outside git."""
    assert git_commit(str(tmp_path)) == "unknown"
    git = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True, text=True).stdout  # noqa: E731
    git("init", "-q")
    (tmp_path / "train.py").write_text("steps = 1\n")
    git("add", "train.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = git("rev-parse", "HEAD").strip()
    (tmp_path / "corpus.npz").write_bytes(b"untracked")
    assert git_commit(str(tmp_path)) == head
    (tmp_path / "train.py").write_text("steps = 2\n")
    assert git_commit(str(tmp_path)) == head + "+changes"


def test_config_entries_the_weights_predate() -> None:
    assert PLDConfig.from_weights(None) == PLDConfig.from_dict(BEFORE_ENTRY)
    old = PLDConfig.from_weights({"d": 128, "layers": 3})
    assert old.segment_features == 0 and old.segment_ramp_frames == 1.75
    assert PLDConfig.from_weights(PLDConfig().to_dict()) == PLDConfig()  # new weights say it themselves
    assert PLDConfig.from_dict({"segment_ramp_frames": "2.5", "d": "64"}) == PLDConfig(segment_ramp_frames=2.5, d=64)
    with pytest.raises(BadInput, match="unknown pose model config entries: ramp"):
        PLDConfig.from_dict({"ramp": 1})


def test_roll_std_sets_the_vaes_normalization_and_travels_with_the_weights(tmp_path: Path) -> None:
    """``roll_std`` weighs roll in the VAE's normalized pose; weights keep what they were trained with (the shipped
    ones, which predate the entry: 6°)."""
    weighted = PLDModel(PLDConfig.from_dict({"roll_std": 3.5}))
    assert weighted.vae.pose_std.tolist()[:3] == [8.0, 8.0, 3.5]
    pose = torch.zeros(1, 16, 6)
    pose[..., 2] = 3.5
    assert torch.allclose(weighted.vae.normalize(pose)[..., 2], torch.ones(1, 16))
    path = tmp_path / "roll.safetensors"
    weighted.save(str(path), {})
    assert PLDModel.load(str(path)).vae.pose_std[2] == 3.5
    assert PLDModel.load(DEFAULT_PATH).vae.pose_std[2] == 6.0


def test_shipped_weights_give_the_recorded_pose(model: PLDModel, speech_wav) -> None:
    """The shipped weights say in their config that they were trained with the direction feature and the teacher's
    segment hand-over, and give the pose recorded from them."""
    assert model.config == PLDConfig.from_weights(load_weights(DEFAULT_PATH)[1].get("config"))
    assert model.config.segment_features == 1 and model.config.segment_ramp_frames == 8.75
    m = load_features(str(speech_wav), 25.0).matrix()
    out = model.generate(m, "nods slowly, then looks to the left", seed=3)
    np.testing.assert_allclose(out[::40], np.array(SHIPPED_REFERENCE), atol=2e-3)
    out = model.generate(m, "nods slowly, then looks to the left", seed=3, posture_seconds=0.0)
    np.testing.assert_allclose(out[::40], np.array(SHIPPED_REFERENCE_WINDOW_POSTURE), atol=2e-3)
    out = model.generate(m, "nods slowly, then looks to the left", seed=3, posture_guidance=1.0)
    np.testing.assert_allclose(out[::40], np.array(SHIPPED_REFERENCE_POSTURE_GUIDED), atol=2e-3)
    out = model.generate(m, "nods slowly, then looks to the left", seed=3, guidance=3.0, posture_guidance=1.0)
    np.testing.assert_allclose(out[::40], np.array(SHIPPED_REFERENCE_GUIDANCE_3), atol=2e-3)
    out = model.generate(
        m,
        "nods slowly, then looks to the left",
        seed=3,
        guidance=3.0,
        guidance_interval=(0.0, 1.0),
        posture_guidance=1.0,
    )
    np.testing.assert_allclose(out[::40], np.array(SHIPPED_REFERENCE_GUIDED_THROUGHOUT), atol=2e-3)


def test_guidance_on_the_noisier_steps_only(model: PLDModel, speech_wav) -> None:
    """Guidance down to 0.4 (the default) spreads the takes more than guidance on every step (1.65 against 1.22° on
    this clip); guidance on no step is the model without guidance; the backend reads ``guidance_until``."""
    feats = load_features(str(speech_wav), 25.0)
    m = feats.matrix()

    def spread(interval: tuple[float, float]) -> float:
        takes = [model.generate(m, "nods while talking", seed=s, guidance_interval=interval) for s in range(4)]
        return float(np.stack(takes)[:, :, :3].std(axis=0).mean())

    assert spread((0.4, 1.0)) > 1.1 * spread((0.0, 1.0))
    unguided = model.generate(m, "nods while talking", seed=1, guidance=1.0)
    np.testing.assert_array_equal(
        model.generate(m, "nods while talking", seed=1, guidance_interval=(1.0, 1.0)), unguided
    )
    throughout = model.generate(m, "nods while talking", seed=1, guidance_interval=(0.0, 1.0))
    backend = get_backend("pld").generate(feats, "nods while talking", 1, None, _noop, guidance_until=0.0)
    np.testing.assert_array_equal(backend, throughout)
    assert np.abs(throughout - model.generate(m, "nods while talking", seed=1)).max() > 0.1


def test_posture_guidance_leaves_the_windows_posture_to_the_conditional_branch(model: PLDModel, speech_wav) -> None:
    """posture_guidance 0: the prompt's guidance leaves each window's posture (the latents' mean over its tokens) as
    the conditional branch alone sets it and guides the motion about it in full; the takes' postures then spread
    more; the backend reads the option."""
    from engine.pose.sampler import GuidedDenoiser

    cfg = model.config
    rows = torch.Generator().manual_seed(2)
    cond = _two_windows(model, rows)
    x = torch.randn((2, WINDOW, cfg.latent), generator=rows)
    with torch.no_grad():
        full, free = (GuidedDenoiser(model.denoiser, 5.0, posture=q)(x, 0.8, cond) for q in (1.0, 0.0))
        conditional = GuidedDenoiser(model.denoiser, 1.0)(x, 0.8, cond)
    mean = lambda z: z.mean(dim=1, keepdim=True)  # noqa: E731
    torch.testing.assert_close(mean(free), mean(conditional), atol=1e-5, rtol=0)
    torch.testing.assert_close(free - mean(free), full - mean(full), atol=1e-5, rtol=0)
    assert float((mean(full) - mean(conditional)).abs().max()) > 0.05  # guidance does move the posture

    feats = load_features(str(speech_wav), 25.0)
    m = feats.matrix()

    def posture_spread(share: float) -> float:
        takes = [model.generate(m, "nods while talking", seed=s, posture_guidance=share) for s in range(4)]
        return float(np.stack(takes)[:, :, :3].mean(axis=1).std(axis=0).mean())

    assert posture_spread(0.0) > 1.5 * posture_spread(1.0)
    backend = get_backend("pld").generate(feats, "nods while talking", 1, None, _noop, posture_guidance=0.0)
    np.testing.assert_array_equal(backend, model.generate(m, "nods while talking", seed=1, posture_guidance=0.0))
    assert np.abs(backend - model.generate(m, "nods while talking", seed=1, posture_guidance=1.0)).max() > 0.1


def test_slow_part_is_a_centred_moving_average_or_the_mean() -> None:
    """sampler.slow_part: a ramp keeps its values inside (a centred average), its ends see their own value
    repeated; a width of the window or more (or None) is the window's mean; even widths are made odd."""
    from engine.pose.sampler import GuidedDenoiser, slow_part

    ramp = torch.arange(20, dtype=torch.float32).reshape(1, 20, 1).repeat(2, 1, 3)
    out = slow_part(ramp, 5)
    assert out.shape == ramp.shape
    torch.testing.assert_close(out[:, 2:-2], ramp[:, 2:-2])
    assert float(out[0, 0, 0]) == pytest.approx((0 + 0 + 0 + 1 + 2) / 5)  # the first value repeated
    for width in (None, 20, 33):
        torch.testing.assert_close(slow_part(ramp, width), ramp.mean(dim=1, keepdim=True).expand(-1, 1, -1))
    assert GuidedDenoiser(None, 5.0, posture_tokens=12).posture_tokens == 13  # type: ignore[arg-type]
    assert GuidedDenoiser(None, 5.0, posture_tokens=0).posture_tokens is None  # type: ignore[arg-type]


def test_posture_seconds_leaves_the_slow_turns_to_the_conditional_branch(model: PLDModel, speech_wav) -> None:
    """posture_seconds: the guidance leaves the slow part of the prompt's effect (its moving average over that
    many seconds) to the conditional branch; on real speech the takes of one prompt then differ more in yaw, the
    nods stay guided; 0 is the window's mean (the default until 2026-12-05; 0.64 s since) and the backend reads
    the option."""
    from engine.pose.sampler import GuidedDenoiser, slow_part

    cfg = model.config
    rows = torch.Generator().manual_seed(2)
    cond = _two_windows(model, rows)
    x = torch.randn((2, WINDOW, cfg.latent), generator=rows)
    with torch.no_grad():
        full = GuidedDenoiser(model.denoiser, 5.0, posture=1.0)(x, 0.8, cond)
        free = GuidedDenoiser(model.denoiser, 5.0, posture=0.0, posture_tokens=13)(x, 0.8, cond)
        conditional = GuidedDenoiser(model.denoiser, 1.0)(x, 0.8, cond)
    torch.testing.assert_close(free - full, -slow_part(full - conditional, 13), atol=1e-5, rtol=0)
    quick = full - conditional - slow_part(full - conditional, 13)
    assert float(quick.abs().max()) > 0.05  # the guidance's quick part is kept, and it is not nothing

    feats = load_features(str(speech_wav), 25.0)
    m = feats.matrix()

    def spread(seconds: float) -> np.ndarray:
        takes = [model.generate(m, "nods while talking", seed=s, posture_seconds=seconds) for s in range(4)]
        return np.stack(takes)[:, :, :3].std(axis=0).mean(axis=0)  # pitch, yaw, roll

    window, slow = spread(0.0), spread(2.0)
    assert slow[1] > 1.1 * window[1]  # yaw: the takes turn apart more
    assert slow[0] > 0.8 * window[0]  # pitch: the nods still as guided
    default = model.generate(m, "nods while talking", seed=1)  # 0.64 s
    np.testing.assert_array_equal(default, model.generate(m, "nods while talking", seed=1, posture_seconds=0.64))
    backend = get_backend("pld").generate(feats, "nods while talking", 1, None, _noop, posture_seconds=0.0)
    np.testing.assert_array_equal(backend, model.generate(m, "nods while talking", seed=1, posture_seconds=0.0))
    assert np.abs(backend - default).max() > 0.1


def test_calm_text_keeps_the_guidance_on_the_slow_motion(model: PLDModel, long_features) -> None:
    """Windows drawn under a calm text guide their slow motion as well (a calm head neither drifts nor turns):
    posture_seconds leaves a calm prompt as it is, and the calm part of "calm, then excited" up to its border,
    while the lively part changes."""
    m = long_features.matrix()
    border = len(m) // 2
    calm = model.generate(m, "calm and still", seed=2, posture_seconds=0.0)
    np.testing.assert_array_equal(calm, model.generate(m, "calm and still", seed=2, posture_seconds=1.12))
    prompt = "stay calm at first, then get really excited"
    a, b = (model.generate(m, prompt, seed=2, posture_seconds=s) for s in (0.0, 1.12))
    # the calm part's latents are drawn as before; its decoded frames move by a few hundredths of a degree only,
    # as the decoder's group norms see the whole clip
    calm_part = slice(0, border - 50)
    assert np.abs(a[calm_part, :3] - b[calm_part, :3]).max() < 0.1
    assert np.abs(a[border + 50 :, :3] - b[border + 50 :, :3]).max() > 0.5


def test_shapes_and_determinism(model: PLDModel, speech_wav) -> None:
    feats = load_features(str(speech_wav), 25.0)
    a = model.generate(feats.matrix(), "nods slowly, then looks to the left", seed=3)
    b = model.generate(feats.matrix(), "nods slowly, then looks to the left", seed=3)
    c = model.generate(feats.matrix(), "nods slowly, then looks to the left", seed=4)
    assert a.shape == (feats.n_frames, 6) and a.dtype == np.float32 and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.1  # another seed is another take
    assert np.abs(a[:, :3]).max() < 45 and 0.7 < a[:, 5].min() and a[:, 5].max() < 1.4


def test_pause_calm_settles_the_head_in_pauses(model: PLDModel, espeak) -> None:
    """With pause_calm the head moves less in a pause between two sentences, as much as before in the speech, and
    pins are still met exactly."""
    from engine.audio import SAMPLE_RATE, AudioFeatures, compute_features, load_audio

    a, _ = load_audio(str(espeak("We sailed out before dawn, and the sea was calm.", rate=160)))
    b, _ = load_audio(str(espeak("Then the wind rose and we turned back home.", rate=160)))
    wave = np.concatenate([a, np.zeros(int(1.5 * SAMPLE_RATE), np.float32), b])
    f: AudioFeatures = compute_features(wave, len(wave) / SAMPLE_RATE, 25.0)
    pause, talk = f.speech < 0.1, f.speech > 0.9
    assert pause[len(a) // 640 + 5 : len(a) // 640 + 30].all()

    def speeds(amount: float) -> tuple[float, float]:
        vel = []
        for s in range(3):
            out = model.generate(f.matrix(), "talks and nods", seed=s, pause_calm=amount)
            vel.append(np.abs(np.gradient(out[:, :3], axis=0)).sum(axis=1))
        v = np.mean(vel, axis=0)
        return float(v[pause].mean()), float(v[talk].mean())

    (silence0, speech0), (silence1, speech1) = speeds(0.0), speeds(0.8)
    assert silence1 < 0.7 * silence0 and speech1 > 0.9 * speech0
    pins = np.full((f.n_frames, 6), np.nan)
    pins[len(a) // 640 + 15] = [6.0, -8.0, 2.0, 0.01, 0.0, 1.02]  # inside the pause
    out = get_backend("pld").generate(f, "talks and nods", 1, pins, _noop, pause_calm=0.8)
    assert np.abs(out[np.isfinite(pins)] - pins[np.isfinite(pins)]).max() < 0.05


def test_backend_other_fps_and_short_audio(espeak) -> None:
    backend = get_backend("pld")
    feats = load_features(str(espeak("Yes.", rate=170)), 30.0)
    out = backend.generate(feats, "nods", 0, None, _noop)
    assert out.shape == (feats.n_frames, 6) and np.isfinite(out).all()


def test_prompt_steers_the_motion(model: PLDModel, speech_wav) -> None:
    m = load_features(str(speech_wav), 25.0).matrix()
    left = np.mean([model.generate(m, "looks to the left", seed=s)[40:, 1].mean() for s in range(2)])
    right = np.mean([model.generate(m, "looks to the right", seed=s)[40:, 1].mean() for s in range(2)])
    assert left < -4.0 < 4.0 < right  # viewer's left is negative yaw


def test_segment_texts_keep_a_new_mood_apart() -> None:
    """The diffusion model's "then" pieces follow the keyword parser's rule (engine.styles.modifies_previous)."""
    assert segment_texts("nods, then slowly") == ["nods slowly"]  # a modifier joins the piece before
    assert segment_texts("Calm, then excited") == ["Calm", "excited"]  # a new mood starts a piece of its own
    assert segment_texts("calm nods, then gently") == ["calm nods gently"]  # the same mood again: a modifier


def test_part_prompts_only_where_the_parts_have_moods_of_their_own() -> None:
    assert part_prompts("calm, then excited") == ["calm", "excited"]
    assert part_prompts("calm, then nods, then excited") == ["calm", "calm, nods", "excited"]  # the inherited mood
    for one_mood in ("nods slowly, then looks to the left", "calm, then nods", "nods, then slowly", "excited"):
        assert part_prompts(one_mood) is None, one_mood


def test_moods_per_part(model: PLDModel, long_features) -> None:
    """Each window of a line whose parts have moods of their own follows its part: the lively half moves well over
    twice as fast as the calm half, whichever comes first (conditioned on the whole prompt, 2.3× and 1.4×: the
    excitement at the start was lost)."""
    m = long_features.matrix()
    n = len(m)

    def halves(prompt: str) -> tuple[float, float]:
        speeds = []
        for seed in range(2):
            v = np.abs(np.diff(model.generate(m, prompt, seed=seed)[:, :3], axis=0)).sum(axis=1)
            speeds.append((v[: n // 2 - 25].mean(), v[n // 2 + 25 :].mean()))
        first, second = np.mean(speeds, axis=0)
        return float(first), float(second)

    calm, lively = halves("stay calm at first, then get really excited")
    assert lively > 2.5 * calm
    lively, calm = halves("very excited at first, then calm and still")
    assert lively > 2.5 * calm


def test_segment_direction_reads_screen_sides() -> None:
    assert segment_direction("glance toward screen left") == -1.0
    assert segment_direction("face the right-hand side of the picture") == 1.0
    assert segment_direction("tilt your head rightward") == 1.0
    assert segment_direction("shake the head from left to right") == 0.0  # both sides: no direction
    assert segment_direction("nod, that's right") == 0.0 and segment_direction("look up right now") == 0.0
    assert segment_direction("nods slowly") == 0.0
    whole, segs, _weights = PLDModel(PLDConfig(segment_features=1)).text_conditions(
        "nod a few times, then turn to screen right", 100
    )
    assert segs.shape[1] == whole.shape[0] + 1 and segs[:2, -1].tolist() == [0.0, 1.0]


def test_segments_carry_the_mood_the_parser_reads() -> None:
    """Each segment's condition ends with its direction and a one-hot of its mood: the prompt's one mood on every
    part, or each part's own where the prompt names two (a part without a mood word keeps the one before)."""
    assert MOOD_FEATURES == ("calm", "energetic", "sad", "confident", "thinking")
    assert segment_moods("keep it composed and nod, then glance left") == ["calm", "calm"]
    assert segment_moods("barely moving, then get really excited, then look down") == ["calm", "energetic", "energetic"]
    assert segment_moods("nod a few times") == ["neutral"]
    moody = PLDModel(PLDConfig(segment_features=SEGMENT_FEATURES))
    whole, segs, _weights = moody.text_conditions("barely moving, then get excited and look to the left", 100)
    dim = whole.shape[0]
    assert segs.shape == (3, dim + SEGMENT_FEATURES) and SEGMENT_FEATURES == 6
    assert segs[0, dim:].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]  # no side, calm
    assert segs[1, dim:].tolist() == [-1.0, 0.0, 1.0, 0.0, 0.0, 0.0]  # screen left, energetic
    assert not segs[2].any()  # no third part
    _whole, neutral, _weights = moody.text_conditions("nod a few times", 100)
    assert not neutral[0, dim:].any()


def test_unusual_sides(model: PLDModel, speech_wav) -> None:
    """Left/right in words the captions rarely use."""
    m = load_features(str(speech_wav), 25.0).matrix()
    for prompt, sign in (
        ("swing your face toward the left edge of the picture", -1),
        ("eyes and nose aimed screen right", 1),
    ):
        yaw = np.mean([model.generate(m, prompt, seed=s)[40:, 1].mean() for s in range(2)])
        assert sign * yaw > 5.0, (prompt, yaw)


def test_calm_words(model: PLDModel, speech_wav) -> None:
    """Calm said as 'steady' or 'composed' moves the head less than plain talking."""
    m = load_features(str(speech_wav), 25.0).matrix()

    def speed(prompt: str) -> float:
        return float(
            np.mean([np.abs(np.diff(model.generate(m, prompt, seed=s)[:, :3], axis=0)).sum(1).mean() for s in range(2)])
        )

    assert speed("steady and composed, hardly moving the head at all") < 0.7 * speed("an ordinary person speaking")


def test_pins_are_kept_and_blended(model: PLDModel, long_features) -> None:
    """Pins are met and the motion flows into and out of them, also where a window joins two moods (frame 235 lies
    in the band redrawn after the border of "calm at first, then excited")."""
    m = long_features.matrix()
    n = len(m)
    pins = np.full((n, 6), np.nan)
    pins[60] = [10.0, -12.0, 4.0, 0.02, -0.01, 1.05]
    pins[200, 1] = 15.0  # one channel only
    pins[235] = [-6.0, 8.0, -3.0, 0.0, 0.01, 0.98]
    for prompt in ("talks calmly", "stay calm at first, then get really excited"):
        out = model.generate(m, prompt, seed=1, pins=pins)
        mask = np.isfinite(pins)
        assert np.abs(out[mask] - pins[mask]).max() < 0.05
        step = np.abs(np.diff(out[:, :3], axis=0))
        for frame in (60, 200, 235):  # flows into and out of the pins
            assert step[frame - 5 : frame + 5].max() < 3.0, (prompt, frame)


def test_sampling_plan_joins_parts_inside_the_lively_one() -> None:
    """One mood: the two passes of window_plan under the whole prompt. Parts with moods of their own: each part
    planned as a clip of its own under its own text, then one window per border that redraws BORDER_BAND tokens in
    the part that is not calm (centred and under the whole prompt where both or neither are); windows of one pass
    never overlap, every token is drawn; a window is calm where the text it is drawn under is."""
    from engine.pose.windows import BORDER_BAND, WHOLE_PROMPT, Window, sampling_plan, window_plan

    for n in (1, 20, 32, 33, 90, 300):
        assert [[(w.start, w.end) for w in p] for p in sampling_plan(n)] == window_plan(n)
        assert all(w.part == WHOLE_PROMPT and w.redraw is None and not w.calm for p in sampling_plan(n) for w in p)
        assert all(w.calm for p in sampling_plan(n, calm=[True]) for w in p)  # a calm prompt: every window

    owners = np.repeat([0, 1], 40)
    calm_first = sampling_plan(80, owners, [True, False])
    assert calm_first[0] == [Window(0, 32, 0, calm=True), Window(40, 72, 1)]
    assert calm_first[1] == [Window(8, 40, 0, calm=True), Window(48, 80, 1)]
    assert calm_first[2] == [Window(28, 60, 1, (40, 40 + BORDER_BAND))]  # after the border, the lively part's text
    assert sampling_plan(80, owners, [False, True])[2] == [Window(20, 52, 0, (40 - BORDER_BAND, 40))]
    for calm in ([True, True], [False, False]):
        assert sampling_plan(80, owners, calm)[2] == [Window(24, 56, WHOLE_PROMPT, (36, 44), all(calm))]

    owners = np.repeat([0, 1, 2], 12)  # short parts: the border windows overlap, so they take a pass each
    plan = sampling_plan(36, owners, [False, True, False])
    assert [w.part for w in plan[0]] == [0, 1, 2] and len(plan) == 3
    assert plan[1] == [Window(0, 32, 0, (4, 12))] and plan[2] == [Window(4, 36, 2, (24, 32))]
    for n, owners in ((300, np.repeat([0, 1], 150)), (200, np.repeat([0, 1, 2], [60, 70, 70]))):
        plan = sampling_plan(n, owners, [True, False, True])
        drawn = np.zeros(n, bool)
        for windows in plan:
            assert not any(a.overlaps(b) for i, a in enumerate(windows) for b in windows[i + 1 :])
            assert all(w.end - w.start <= WINDOW for w in windows)
            for w in windows:
                drawn[w.start : w.end] = True
        assert drawn.all()


def test_each_part_keeps_its_mood_up_to_its_border(model: PLDModel, long_features) -> None:
    """A calm part stays calm up to its border with a lively one, and a lively part stays lively up to its border
    with a calm one (the change happens inside the lively part); the border windows leave no seam. (With a border
    window centred under the whole prompt the excitement started a second early in the calm part: 13.9 °/s against
    18.0 in the lively part; and the lively part settled a second early: 2.1 °/s against 2.7 in the calm part.)"""
    from engine.pose.vae import DOWN
    from engine.pose.windows import prompt_plan

    m = long_features.matrix()
    n, border = len(m), len(m) // 2

    def speeds(prompt: str) -> tuple[float, float, float]:
        """Mean head speed (°/s) of the first part, of its last second, and of the second part after its first."""
        rows, seam_acc, acc_99 = [], [], []
        _text, _segs, weights = model.text_conditions(prompt, n)
        seams = [b for b in seam_frames(n, prompt_plan(prompt, weights.numpy(), -(-n // DOWN))) if 2 < b < n - 4]
        assert len(seams) >= 3
        for seed in range(2):
            out = model.generate(m, prompt, seed=seed)
            v = np.abs(np.diff(out[:, :3], axis=0)).sum(axis=1) * 25
            rows.append((v[: border - 25].mean(), v[border - 25 : border].mean(), v[border + 25 :].mean()))
            acc = np.abs(np.diff(out[:, :3], n=2, axis=0)).max(axis=1)
            seam_acc.append(max(acc[b - 2 : b + 2].max() for b in seams))
            acc_99.append(np.percentile(acc, 99.5))
        first, last_second, second = np.mean(rows, axis=0)
        assert max(seam_acc) <= max(acc_99) + 1e-6
        return float(first), float(last_second), float(second)

    calm, calm_last, lively = speeds("stay calm at first, then get really excited")
    assert calm_last < 0.5 * lively and lively > 2.5 * calm
    lively, lively_last, calm = speeds("very excited at first, then calm and still")
    assert lively_last > 2.5 * calm and lively > 2.5 * calm


def test_windows_continue_without_a_seam(model: PLDModel, long_features) -> None:
    m = long_features.matrix()
    out = model.generate(m, "talks and nods", seed=2)
    seams = seam_frames(len(out))
    assert len(seams) >= 2, "the audio must span several windows"
    acc = np.abs(np.diff(out[:, :3], n=2, axis=0)).max(axis=1)
    seam_acc = max(acc[b - 2 : b + 2].max() for b in seams if b + 2 < len(acc))
    assert seam_acc <= np.percentile(acc, 99.5) + 1e-6


def test_refuses_pickles_and_corrupt_files(tmp_path: Path) -> None:
    pt = tmp_path / "model.safetensors"
    torch.save({"w": torch.zeros(3)}, pt)
    with pytest.raises(BadInput, match="pickle"):
        load_weights(str(pt))
    raw = tmp_path / "raw.safetensors"
    raw.write_bytes(pickle.dumps({"w": [1, 2, 3]}))
    with pytest.raises(BadInput, match="pickle"):
        load_weights(str(raw))
    other = tmp_path / "model.pt"
    other.write_bytes(b"not weights")
    with pytest.raises(BadInput, match="only .safetensors"):
        load_weights(str(other))
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(Path(DEFAULT_PATH).read_bytes()[:5000])
    with pytest.raises(BadInput, match="corrupt"):
        load_weights(str(cut))
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(BadInput, match="corrupt"):
        load_weights(str(junk))
    wrong = tmp_path / "wrong.safetensors"
    from safetensors.torch import save_file

    save_file({"vae.nothing": torch.zeros(2)}, str(wrong), metadata={"config": "{}"})
    with pytest.raises(BadInput, match="does not match"):
        PLDModel.load(str(wrong))


def test_trainer_refuses_a_device_it_cannot_train_on() -> None:
    """``--device``: a name torch does not know, a GPU this torch or machine lacks, and the spread stage (CPU only) each
    stop the trainer at once with one line naming the option (argparse's exit 2), before the corpus is read."""
    cases = [
        (["--device", "nosuch"], "--device nosuch:"),
        (["--device", "cuda", "--take-pairs", "x.npz"], "--take-pairs"),
    ]
    if not torch.cuda.is_available():
        cases.append((["--device", "cuda"], "--device cuda:"))
    for args, message in cases:
        cmd = [sys.executable, "scripts/train_pose.py", "--corpus", "missing.npz", *args]
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert run.returncode == 2, (args, run.stderr)
        assert message in run.stderr.splitlines()[-1] and "Traceback" not in run.stderr


def test_tiny_training_run_lowers_the_loss(tmp_path: Path) -> None:
    """Corpus builder + trainer (all three stages) end to end on a tiny corpus and model, twice: the seed reproduces
    both, and stage 3 continuing the saved stage-2 weights (``--init``) gives the weights of the run in one go.

    The corpus has speech of every trainable voice family (espeak-ng, Piper, flite), so the seed must
    reproduce each of them (Piper's prosody noise included); it has two takes per line for stage 3.
    """
    cfg = json.dumps({"d": 32, "layers": 1, "heads": 2, "vae_hidden": 16})
    spread = ["--spread-steps", "20", "--spread-weight", "0.2"]

    def train(corpus: Path, out: Path, *extra: str) -> None:
        cmd = [sys.executable, "scripts/train_pose.py", "--corpus", str(corpus), "--out", str(out), "--batch", "16"]
        subprocess.run([*cmd, "--config", cfg, *extra], cwd=ROOT, check=True, capture_output=True)

    def build(name: str) -> Path:
        corpus = tmp_path / f"{name}.npz"
        cmd = [sys.executable, "scripts/build_corpus.py", "--clips", "6", "--styles", "2", "--takes", "2"]
        subprocess.run(
            [*cmd, "--families", "espeak,piper,flite", "--out", str(corpus)], cwd=ROOT, check=True, capture_output=True
        )
        return corpus

    corpus, out, log = build("tiny"), tmp_path / "tiny.safetensors", tmp_path / "tiny.jsonl"
    train(corpus, out, "--vae-steps", "60", "--steps", "60", "--log", str(log), "--take-pairs", str(corpus), *spread)
    d = np.load(corpus)
    assert len(d["poses"]) > 0 and d["text_embeddings"].shape[1] == 384
    assert {json.loads(str(label))["family"] for label in d["labels"]} == {"espeak", "piper", "flite"}
    # the trainer conditions each caption's segments as the pipeline does: the same direction and mood features
    sys.path.insert(0, str(ROOT / "scripts"))
    from train_pose import caption_segment_conditions

    conds = caption_segment_conditions(d, d["text_embeddings"].astype(np.float32))
    dim = d["text_embeddings"].shape[1]
    for c, k in enumerate(d["caption_text_index"]):
        _whole, segs, _weights = PLDModel(PLDConfig(segment_features=SEGMENT_FEATURES)).text_conditions(
            str(d["texts"][k]), 100
        )
        assert np.array_equal(conds[c, :, dim:], segs.numpy()[:, dim:]), str(d["texts"][k])
    assert conds[:, :, dim + 1 :].any()  # some caption names a mood
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    vae = [r["loss"] for r in rows if r["stage"] == "vae"]
    assert vae[-1] < 0.8 * vae[0]
    den = [r for r in rows if r["stage"] == "denoiser"]
    assert den[-1]["val_loss"] < den[0]["val_loss"]
    stage3 = [r for r in rows if r["stage"] == "spread" and "step" in r]
    assert len(stage3) == 2 and len(stage3[-1]["take_ratio"]) == 3 and np.isfinite(stage3[-1]["spread_loss"])
    tiny = PLDModel.load(str(out))
    assert tiny.metadata["denoiser_steps"] == 60 and tiny.metadata["spread_steps"] == 20
    assert tiny.metadata["train_device"] == "cpu"  # where it trained (a GPU gives weights of their own)
    assert tiny.metadata["git_commit"] == git_commit(str(ROOT))  # the checkout that trained, "+changes" if it had any

    # reproducible from the seed: the same commands again give the same corpus, and stages 1-2 then stage 3 on
    # the saved weights the same weights as the run in one go
    corpus2, stage2, out2 = build("again"), tmp_path / "stage2.safetensors", tmp_path / "again.safetensors"
    train(corpus2, stage2, "--vae-steps", "60", "--steps", "60")
    train(
        corpus2, out2, "--init", str(stage2), "--vae-steps", "0", "--steps", "0", "--take-pairs", str(corpus2), *spread
    )
    d2 = np.load(corpus2)
    for k in d.files:  # texts, indices and poses exactly; embeddings to float16 precision
        same = np.array_equal(d[k], d2[k]) if d[k].dtype.kind not in "f" else np.allclose(d[k], d2[k], atol=2e-3)
        assert same, k
    from safetensors.torch import load_file

    a, b = load_file(str(out)), load_file(str(out2))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)

    # stage 3 keeping its weights averaged over the run (the same draws): they stay nearer where it started
    averaged = tmp_path / "averaged.safetensors"
    train(
        corpus2, averaged, "--init", str(stage2), "--vae-steps", "0", "--steps", "0", "--take-pairs", str(corpus2),
        *spread, "--spread-pairs", "16", "--spread-average", "0.9",
    )  # fmt: skip
    start, avg = load_file(str(stage2)), load_file(str(averaged))
    den = [k for k in start if k.startswith("denoiser.")]
    moved = lambda w: sum(float((w[k].float() - start[k].float()).norm() ** 2) for k in den) ** 0.5  # noqa: E731
    assert 0 < moved(avg) < 0.8 * moved(b)
    assert PLDModel.load(str(averaged)).metadata["spread_average"] == 0.9

    # the spread taught inside stage 2 (its last 20 steps, every 5th): the same VAE and batches as stage 2 alone
    # (its draws are its own), the denoiser moved by it, the spread logged beside the denoising loss
    inside, inside_log = tmp_path / "inside.safetensors", tmp_path / "inside.jsonl"
    train(
        corpus2, inside, "--vae-steps", "60", "--steps", "60", "--take-pairs", str(corpus2), "--spread-inside", "20",
        "--spread-every", "5", "--log", str(inside_log),
    )  # fmt: skip
    w = load_file(str(inside))
    assert all(torch.equal(w[k], start[k]) for k in start if k.startswith("vae."))
    assert moved(w) > 0
    rows = [json.loads(line) for line in inside_log.read_text().splitlines()]
    assert not [r for r in rows if r["stage"] == "spread" and "step" in r]  # no stage 3 after
    assert len([r for r in rows if r["stage"] == "denoiser"][-1]["take_ratio"]) == 3
    meta = PLDModel.load(str(inside)).metadata
    assert meta["spread_inside_last_steps"] == 20 and "spread_steps" not in meta
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_spread_with_the_engines_sampler_draws_the_engines_takes() -> None:
    """``--spread-sampler engine``: stage 3's differentiable takes are what the engine's own sampler (its steps, its
    guidance on the noisier steps) draws from the same noise, with gradients to the denoiser; the short sampler's
    differ from them."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from train_pose import two_takes

    from engine.pose.denoiser import Conditions
    from engine.pose.pipeline import (
        DEFAULT_GUIDANCE,
        DEFAULT_GUIDANCE_UNTIL,
        DEFAULT_POSTURE_GUIDANCE,
        DEFAULT_STEPS,
    )
    from engine.pose.sampler import GuidedDenoiser, ddim_times, sample_ddim
    from engine.pose.vae import DOWN

    model = PLDModel.load()
    cfg, frames = model.config, WINDOW * DOWN
    cond = _two_windows(model, torch.Generator().manual_seed(1))
    takes = two_takes(model, cond, torch.Generator().manual_seed(7), "engine")
    assert takes.shape == (2, 2, frames, 3) and takes.requires_grad

    both = Conditions(**{k: torch.cat([v, v]) for k, v in vars(cond).items()})
    noise = torch.randn((4, WINDOW, cfg.latent), generator=torch.Generator().manual_seed(7))
    guided = GuidedDenoiser(
        model.denoiser, DEFAULT_GUIDANCE, 1.0, (DEFAULT_GUIDANCE_UNTIL, 1.0), DEFAULT_POSTURE_GUIDANCE
    )
    z = sample_ddim(guided, noise, ddim_times(DEFAULT_STEPS), both)
    engine = model.vae.decode(model.vae.from_diffusion(z))[:, :frames, :3].view(2, 2, frames, 3)
    drawn = takes.detach()
    assert torch.allclose(drawn, engine, atol=1e-3)
    assert float((drawn[0] - drawn[1]).abs().mean()) > 0.1  # two noises, two takes
    short = two_takes(model, cond, torch.Generator().manual_seed(7), "short").detach()
    assert float((short - drawn).abs().mean()) > 0.05


def test_band_power_of_take_differences() -> None:
    """Stage 3 compares takes band by band: a 0.3 Hz drift, a 0.8 Hz sway and a 2 Hz nod each land in their own
    band with their mean square (a sine of amplitude A: A^2 / 2), a constant offset in the slow band."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from train_pose import SPREAD_BANDS_HZ, band_power

    fps, frames = 25.0, 128
    t = torch.arange(frames) / fps
    # frequencies on the FFT's grid (fps / frames = 0.195 Hz), so each sine sits in one bin
    drift, sway, nod = (torch.sin(2 * torch.pi * (k * fps / frames) * t) for k in (2, 4, 10))
    diff = torch.stack([2.0 * drift + 1.5, 3.0 * sway, 4.0 * nod], dim=-1)[None]
    power = band_power(diff, fps)[:, 0]  # (bands, channels)
    assert [lo for lo, _ in SPREAD_BANDS_HZ] == [0.0, 0.5, 1.2]
    expected = torch.tensor([[2.0 + 1.5**2, 0, 0], [0, 4.5, 0], [0, 0, 8.0]])
    torch.testing.assert_close(power, expected, atol=1e-3, rtol=1e-3)


def test_thirty_minutes_in_bounded_memory(long_features) -> None:
    """30 minutes of (real, repeated) speech features through the backend in a fresh process: peak memory bounded."""
    reps = -(-30 * 60 * 25 // long_features.n_frames)
    script = (
        "import json, sys, numpy as np, torch\n"
        "torch.set_num_threads(2)\n"
        "from engine.pose.pipeline import PLDModel\n"
        "m = np.tile(np.load(sys.argv[1]), (int(sys.argv[2]), 1))\n"
        "calls = []\n"
        "out = PLDModel.load().generate(m, 'talks and nods now and then', seed=0,"
        " progress=lambda d, t, msg: calls.append(d))\n"
        "print(json.dumps({'n': len(m), 'shape': list(out.shape), 'finite': bool(np.isfinite(out).all()),"
        " 'calls': len(calls), 'rss_mb': next(int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM')) / 1024}))\n"
    )
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"posetalk_feats_{os.getpid()}.npy"
    np.save(path, long_features.matrix())
    try:
        proc = subprocess.run(
            [sys.executable, "-c", script, str(path), str(reps)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
    finally:
        path.unlink(missing_ok=True)
    out = json.loads(proc.stdout)
    assert out["n"] >= 30 * 60 * 25 and out["shape"] == [out["n"], 6] and out["finite"]
    assert out["calls"] > 3  # progress while it works
    assert out["rss_mb"] < 1200, out
