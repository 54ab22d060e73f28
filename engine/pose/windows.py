"""The sampler's window plan: which latent tokens each window draws, under which text, in which pass.

A clip longer than one window (``WINDOW`` tokens, 5.12 s at 25 fps) is drawn in passes. Pass 1 draws
independent windows with gaps between them; pass 2 draws windows over the gaps that see ``OVERLAP`` drawn tokens on
each side as known context (inpainting), so the motion continues across every border. Windows of one pass never
overlap: they are sampled together.

Where the prompt's "then" parts have moods of their own ("calm, then excited"), each part is planned as a clip of its
own under its own text, and one more pass joins the parts: at each border a window redraws a band of
``BORDER_BAND`` tokens with everything around it known. The band lies in the part that is not calm, under that part's
text, so a calm part stays calm up to its border and the change of mood happens inside the lively part (a band
centred on the border under the whole prompt started the excitement early); where both parts or neither are calm it
is centred on the border under the whole prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .conditioning import part_prompts, segment_moods
from .vae import DOWN

WINDOW = 32  # latent tokens per window
OVERLAP = 8  # known tokens on each side of a gap-filling window
GAP = WINDOW - 2 * OVERLAP  # tokens between the first pass's windows
BORDER_BAND = 8  # tokens redrawn where two parts with moods of their own meet
WHOLE_PROMPT = -1  # a window's ``part`` when the whole prompt conditions it


@dataclass(frozen=True)
class Window:
    """Tokens ``start``..``end`` drawn by one sampler window: under the text of ``part`` (WHOLE_PROMPT: the whole
    prompt); ``redraw`` (start, end) are tokens an earlier pass drew that this window draws again; ``calm``: the
    text it is drawn under asks for calm (its guidance then acts on the slow motion too: pipeline)."""

    start: int
    end: int
    part: int = WHOLE_PROMPT
    redraw: tuple[int, int] | None = None
    calm: bool = False

    def overlaps(self, other: Window) -> bool:
        return self.start < other.end and other.start < self.end


def window_plan(n_tokens: int) -> list[list[tuple[int, int]]]:
    """Token windows of the two passes over a clip of ``n_tokens``.

    Pass 1: independent windows at every WINDOW + GAP tokens. Pass 2: windows over the
    gaps between them, which see OVERLAP generated tokens on each side as known context
    (inpainting), so the motion continues across every border.
    """
    if n_tokens <= WINDOW:
        return [[(0, n_tokens)]]
    first = [(s, min(n_tokens, s + WINDOW)) for s in range(0, n_tokens, WINDOW + GAP)]
    if first[-1][1] - first[-1][0] < OVERLAP:  # a sliver at the end: let the gap window cover it
        first.pop()
    second = []
    for (_, e), (s2, _) in zip(first, first[1:]):
        second.append((e - OVERLAP, s2 + OVERLAP))
    if first[-1][1] < n_tokens:
        second.append((n_tokens - WINDOW, n_tokens))
    return [first, second] if second else [first]


def part_owners(weights: np.ndarray, n_parts: int) -> np.ndarray:
    """(T,) the part each token belongs to: the largest of its segment weights (T, >= n_parts) over the parts."""
    return np.asarray(weights)[:, :n_parts].argmax(axis=1)


def sampling_plan(
    n_tokens: int, owners: np.ndarray | None = None, calm: list[bool] | None = None
) -> list[list[Window]]:
    """The passes of windows for a clip of ``n_tokens``. ``owners`` (T,): each token's part where the prompt's parts
    have moods of their own, with ``calm[k]`` true where part k is calm; None: one mood, the whole prompt throughout
    (calm where ``calm`` is [True])."""
    calm = list(calm or [])
    if owners is None:
        still = calm == [True]
        return [[Window(a, b, calm=still) for a, b in windows] for windows in window_plan(n_tokens)]
    owners = np.asarray(owners)
    bounds = [0, *(int(b) for b in np.flatnonzero(np.diff(owners)) + 1), n_tokens]
    first: list[Window] = []
    second: list[Window] = []
    for a, b in zip(bounds, bounds[1:]):
        part = int(owners[a])
        still = part < len(calm) and calm[part]
        passes = window_plan(b - a)
        first += [Window(a + s, a + e, part, calm=still) for s, e in passes[0]]
        if len(passes) > 1:
            second += [Window(a + s, a + e, part, calm=still) for s, e in passes[1]]
    joins: list[list[Window]] = []
    for border in bounds[1:-1]:
        left, right = int(owners[border - 1]), int(owners[border])
        left_calm = left < len(calm) and calm[left]
        right_calm = right < len(calm) and calm[right]
        if left_calm and not right_calm:
            lo, hi, part = border, border + BORDER_BAND, right
        elif right_calm and not left_calm:
            lo, hi, part = border - BORDER_BAND, border, left
        else:
            lo, hi, part = border - BORDER_BAND // 2, border + BORDER_BAND // 2, WHOLE_PROMPT
        lo, hi = max(0, lo), min(n_tokens, hi)
        end = min(n_tokens, max(0, (lo + hi) // 2 - WINDOW // 2) + WINDOW)
        window = Window(max(0, end - WINDOW), end, part, (lo, hi), left_calm and right_calm)
        for joined in joins:  # the first pass of joins it does not overlap
            if not any(window.overlaps(w) for w in joined):
                joined.append(window)
                break
        else:
            joins.append([window])
    return [p for p in (first, second) if p] + joins


def prompt_plan(prompt: str, weights: np.ndarray, n_tokens: int) -> list[list[Window]]:
    """The passes of windows for ``prompt`` over a clip of ``n_tokens`` whose tokens carry the segment ``weights``
    (T, MAX_SEGMENTS): its parts planned apart where they have moods of their own (conditioning.part_prompts)."""
    parts = part_prompts(prompt)
    calm = [mood == "calm" for mood in segment_moods(prompt)]
    if parts is None:
        return sampling_plan(n_tokens, calm=[all(calm)])
    return sampling_plan(n_tokens, part_owners(weights, len(parts)), calm)


def seam_frames(n_frames: int, plan: list[list[Window]] | None = None) -> list[int]:
    """Frames (at the model's 25 fps) where tokens a window draws meet tokens an earlier pass drew (the clip's
    ``plan``; default: one mood throughout)."""
    n_tokens = -(-n_frames // DOWN)
    plan = sampling_plan(n_tokens) if plan is None else plan
    drawn = np.zeros(n_tokens, bool)
    borders: set[int] = set()
    for windows in plan:
        for w in windows:
            if w.redraw is not None:
                drawn[w.redraw[0] : w.redraw[1]] = False
        for w in windows:
            free = (~drawn[w.start : w.end]).astype(np.int8)
            borders.update(w.start + int(i) + 1 for i in np.flatnonzero(np.diff(free)))
        for w in windows:
            drawn[w.start : w.end] = True
    return sorted(b * DOWN for b in borders if 0 < b * DOWN < n_frames)
