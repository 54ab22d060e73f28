"""Takes: variations of a head's motion kept as separate actions with readable names, listed and switched
slot-aware (Blender 4.4+ layered actions: an action plus the slot the object uses in it). A character's takes
are PoseTalk layers (``layers``): switching one keeps the character's own animation playing below it.

An action is a take of a rig when it carries the custom properties ``posetalk_rig`` (the object's name) and
``posetalk_take`` (its number); ``posetalk_seed`` and ``posetalk_prompt`` say how it was made.
"""

from __future__ import annotations

from typing import Any

import bpy

from . import compat, layers

MAX_NAME_BYTES = 63  # Blender 4.x ID names (5.0 allows more)


def take_name(number: int, seed: int, prompt: str, baked: bool = False) -> str:
    """'PoseTalk Take 3 · seed 7 · nods slowly…' cut to what an ID name holds (UTF-8 bytes)."""
    head = f"PoseTalk {'Bake' if baked else 'Take'} {number} · seed {seed} · "
    words = " ".join(str(prompt).split())
    name = head + words
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    room = MAX_NAME_BYTES - len(head.encode()) - len("…".encode())
    cut = words.encode()[: max(0, room)].decode(errors="ignore").rstrip()
    return head + cut + "…"


def takes_of(obj: bpy.types.Object) -> list[bpy.types.Action]:
    """The rig's takes, by number."""
    found = [a for a in bpy.data.actions if a.get("posetalk_rig") == obj.name and "posetalk_take" in a]
    return sorted(found, key=lambda a: (int(a["posetalk_take"]), a.name))


def next_number(obj: bpy.types.Object) -> int:
    return max((int(a["posetalk_take"]) for a in takes_of(obj)), default=0) + 1


def next_seed(obj: bpy.types.Object, seed: int) -> int:
    """A seed no take of the rig used yet, after ``seed``."""
    used = {int(a.get("posetalk_seed", -1)) for a in takes_of(obj)}
    seed += 1
    while seed in used:
        seed += 1
    return seed


def tag(action: bpy.types.Action, obj: bpy.types.Object, number: int, seed: int, prompt: str) -> None:
    action["posetalk_rig"] = obj.name
    action["posetalk_take"] = number
    action["posetalk_seed"] = seed
    action["posetalk_prompt"] = str(prompt)


def current_action(obj: bpy.types.Object) -> bpy.types.Action | None:
    ad = obj.animation_data
    return ad.action if ad is not None else None


def assign(obj: bpy.types.Object, action: bpy.types.Action | None) -> None:
    """Make ``action`` the object's active action, with a slot for it (the slot it used, one made for
    objects and not used by another ID, or a new one); a character's take blends over its own animation."""
    if action is not None and obj.posetalk.is_character:
        layers.assign(obj, action)
        return
    ad = obj.animation_data or obj.animation_data_create()
    ad.action = action
    if action is not None:
        compat.ensure_action_slot(ad, action, obj.name)


def duplicate(obj: bpy.types.Object, name: str) -> bpy.types.Action:
    """A copy of the object's action (its pins and mouth curves with it), assigned to the object. A
    character's own action is not copied: it keeps playing below a new, empty layer."""
    old = current_action(obj)
    if obj.posetalk.is_character and not layers.is_ours(old, obj):
        layers.ensure_layer(obj, obj, name)
        return current_action(obj)
    if old is None:
        action = bpy.data.actions.new(name)
    else:
        action = old.copy()
        action.name = name
        for key in ("posetalk_take", "posetalk_seed", "posetalk_prompt", "posetalk_baked"):
            if key in action:
                del action[key]
    assign(obj, action)
    return action


def enum_items(obj: bpy.types.Object | None) -> list[tuple[str, str, str]]:
    """(identifier, label, description) per take, for menus."""
    if obj is None:
        return []
    out = []
    for a in takes_of(obj):
        prompt = a.get("posetalk_prompt", "")
        out.append((a.name, a.name, f"seed {a.get('posetalk_seed', '?')}: {prompt}"))
    return out


def describe(action: Any) -> str:
    return action.name if action is not None else "(no action)"
