"""Binding a character: check everything Bind Character was given (the object, its head bone or the object
itself, a neck bone, the axes, the mouth and its table, the sound strip) and only then store the binding on
the character (``Object.posetalk``), so bad input changes nothing.

The head's axes (``retarget``) come from a preset (Rigify, Mixamo, Auto-Rig Pro: bone names and axes), from
custom axes, or from the bone's rest orientation with the character facing -Y. A head bone whose rotation is
not animated yet gets the Euler order in which each curve is one pose channel; an animated one keeps its mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import bpy
from mathutils import Matrix

from . import compat, mouth, mouth_targets, retarget, sequencer
from .errors import UserError

HEAD_TYPES = {"ARMATURE", "MESH", "EMPTY", "CURVE", "SURFACE", "FONT", "META", compat.GP_OBJECT}


@dataclass
class Plan:
    """A checked binding, ready to store."""

    obj: bpy.types.Object
    settings: dict[str, Any]
    head_axes: Matrix
    neck_axes: Matrix
    move_axes: Matrix
    rotation_modes: dict[str, str]  # data path prefix of a part → the rotation mode it gets
    face_height: float
    mouth_object: bpy.types.Object | None
    rows: list[tuple[str, str, float]]
    strip: str
    notes: list[str] = field(default_factory=list)


def _animated_paths(obj: bpy.types.Object) -> set[str]:
    """Data paths the object's own actions (active and NLA) animate."""
    ad = obj.animation_data
    if ad is None:
        return set()
    actions = [ad.action] + [s.action for t in ad.nla_tracks for s in t.strips]
    return {fc.data_path for a in actions if a is not None for _slot, fcs in compat.channelbags(a) for fc in fcs}


def _rotation_mode(holder: Any, prefix: str, axes: Matrix, animated: set[str], what: str) -> str:
    """The rotation mode a head part gets: the one-channel-per-curve Euler order unless its rotation is
    animated already (then its own mode stays)."""
    mode = holder.rotation_mode
    if any(p.startswith(prefix + "rotation_") for p in animated):
        if mode == "AXIS_ANGLE":
            raise UserError(f"{what} is animated in Axis Angle mode: PoseTalk keys Quaternion or Euler rotations")
        return mode
    pure = retarget.euler_order(axes)
    if pure is not None:
        return pure[0]
    return "QUATERNION" if mode in ("QUATERNION", "AXIS_ANGLE") else mode


def _bone(obj: bpy.types.Object, name: str, wanted: tuple[str, ...]) -> bpy.types.Bone | None:
    """The bone named ``name`` (UserError when there is none), else the first of ``wanted`` the rig has."""
    bones = obj.data.bones
    if name:
        if name not in bones:
            have = ", ".join(b.name for b in list(bones)[:12])
            raise UserError(f"{obj.name} has no bone {name!r} (it has: {have})")
        return bones[name]
    return next((bones[n] for n in wanted if n in bones), None)


def _axes(preset: str, letters: tuple[str, str, str], rest_world: Matrix) -> Matrix:
    if preset == "CUSTOM":
        return retarget.axes_from_letters(*letters)
    if preset in retarget.RIG_PRESETS:
        return retarget.axes_from_letters(*retarget.RIG_PRESETS[preset]["axes"])
    return retarget.axes_from_rest(rest_world)


def plan(
    context: bpy.types.Context, obj: bpy.types.Object | None, s: dict[str, Any], mouth_object: bpy.types.Object | None,
    mapping: str, strip_name: str,
) -> Plan:  # fmt: skip
    """Check a binding of ``obj`` with the settings ``s`` (CharacterSettings' names); UserError on bad input."""
    if obj is None:
        raise UserError("no character: pick the armature or the head object to bind")
    if obj.posetalk.is_rig:
        raise UserError(f"{obj.name} is a portrait plane: PoseTalk drives it already")
    if obj.type not in HEAD_TYPES:
        raise UserError(
            f"{obj.name} is a {obj.type.lower()}: bind an armature, a mesh, an empty or a Grease Pencil object"
        )
    if obj.library is not None:
        raise UserError(
            f"{obj.name} is linked from a library: make a library override first (Object > Library Override)"
        )
    if obj.override_library is not None and obj.override_library.is_system_override:
        raise UserError(f"{obj.name} is a system override: make it editable (Library Override > Make Editable)")
    preset = s["rig_preset"]
    letters = (s["axis_pitch"], s["axis_yaw"], s["axis_roll"])
    animated = _animated_paths(obj)
    modes: dict[str, str] = {}
    notes: list[str] = []
    neck_axes = Matrix.Identity(3)
    if obj.type == "ARMATURE":
        named = retarget.RIG_PRESETS.get(preset)
        every = {k: tuple(n for p in retarget.RIG_PRESETS.values() for n in p[k]) for k in ("head", "neck")}
        head = _bone(obj, s["head_bone"], (named or every)["head"])
        if head is None:
            raise UserError(f"{obj.name} has no {preset.replace('_', '-').title()} head bone: name it (head_bone=...)")
        guess = named["neck"] if named else (() if s["head_bone"] else every["neck"])
        neck = _bone(obj, s["neck_bone"], guess)
        if neck is not None and neck not in head.parent_recursive:
            if s["neck_bone"]:
                raise UserError(f"the neck bone {neck.name!r} is not a parent of the head bone {head.name!r}")
            neck = None  # a preset's neck name on another chain: no neck
        world = obj.matrix_world.to_3x3()
        head_axes = _axes(preset, letters, world @ head.matrix_local.to_3x3())
        move_axes = head_axes
        s["head_bone"] = head.name
        s["neck_bone"] = neck.name if neck is not None else ""
        pb = obj.pose.bones[head.name]
        modes[retarget._bone_path(pb)] = _rotation_mode(
            pb, retarget._bone_path(pb), head_axes, animated, f"bone {head.name!r}"
        )
        if neck is not None:
            neck_axes = _axes(preset, letters, world @ neck.matrix_local.to_3x3())
            npb = obj.pose.bones[neck.name]
            path = retarget._bone_path(npb)
            modes[path] = _rotation_mode(npb, path, neck_axes, animated, f"bone {neck.name!r}")
        face_height = head.length
    else:
        if s["head_bone"] or s["neck_bone"]:
            raise UserError(f"{obj.name} is not an armature: head and neck bones need one (leave them empty)")
        if preset in retarget.RIG_PRESETS:
            raise UserError(f"the {preset.replace('_', '-').title()} preset names bones: {obj.name} is not an armature")
        head_axes = _axes(preset, letters, obj.matrix_world.to_3x3())
        parent_space = obj.matrix_world @ obj.matrix_basis.inverted()
        move_axes = retarget.axes_from_rest(parent_space.to_3x3())
        modes[""] = _rotation_mode(obj, "", head_axes, animated, f"object {obj.name!r}")
        face_height = max(obj.dimensions) / max(1e-6, max(parent_space.to_scale())) if max(obj.dimensions) > 0 else 0.4
    if abs(head_axes.determinant() - 1.0) > 1e-3:
        raise UserError(f"{obj.name}'s head is scaled unevenly or mirrored: apply its scale first")
    rows, mobj = _plan_mouth(obj, s, mouth_object, mapping, notes)
    strip = ""
    if strip_name:
        if not any(st.name == strip_name for st in sequencer.sound_strips(context.scene)):
            raise UserError(f"no sound strip named {strip_name!r} in the scene")
        strip = strip_name
    else:
        active = sequencer.active_sound_strip(context.scene)
        strip = active.name if active is not None else obj.posetalk.strip
    return Plan(obj, s, head_axes, neck_axes, move_axes, modes, max(face_height, 1e-4), mobj, rows, strip, notes)


def _default_mouth_object(obj: bpy.types.Object, mode: str) -> bpy.types.Object | None:
    def fits(o: bpy.types.Object) -> bool:
        if mode in mouth.SHAPE_KEY_MODES:
            return o.type == "MESH" and o.data.shape_keys is not None and len(o.data.shape_keys.key_blocks) > 1
        if mode in ("GP_LAYERS", "GP_FRAMES"):
            return o.type == compat.GP_OBJECT
        if mode == "IMAGES":
            try:
                return o.type == "MESH" and mouth_targets.image_node(o) is not None
            except UserError:
                return False
        return True

    for candidate in (obj, *obj.children_recursive):
        if fits(candidate):
            return candidate
    return None


def _plan_mouth(
    obj: bpy.types.Object, s: dict[str, Any], mouth_object: bpy.types.Object | None, mapping: str, notes: list[str]
) -> tuple[list[tuple[str, str, float]], bpy.types.Object | None]:
    mode = s["mouth"]
    if mode == "NONE":
        if mapping:
            raise UserError("a mapping needs a mouth: pick one (mouth=...)")
        return [], None
    mobj = mouth_object or _default_mouth_object(obj, mode)
    if mobj is None:
        raise UserError(
            f"no mouth object: {obj.name} and its children have nothing a {mode} mouth drives (mouth_object=...)"
        )
    if mobj.library is not None:
        raise UserError(f"the mouth object {mobj.name} is linked from a library: make a library override first")
    found = mouth_targets.resolve(mode, mobj, s["mouth_layer"])
    if mapping:
        rows, strict = mouth.parse_mapping(mapping), True
    elif mode == "CUSTOM" and len(obj.posetalk.mapping):
        rows, strict = [(r.target, r.source, r.factor) for r in obj.posetalk.mapping], True
    else:
        rows, strict = mouth_targets.default_rows(mode, found), False
    rows, missing = mouth.resolve(mode, rows, found.available, found.what, strict)
    targets = len(set(t for t, _s, _f in rows))
    note = f"mouth: {mode.lower()} on {mobj.name}, {targets} target(s)"
    if missing:
        note += f" ({len(missing)} of the preset's missing: {', '.join(missing[:6])}{'…' if len(missing) > 6 else ''})"
    notes.append(note)
    return rows, mobj


def _override_mouth_data(obj: bpy.types.Object, mode: str) -> list[str]:
    """A linked character's mouth data (a mesh and its shape keys, Grease Pencil data, a material) gets a
    library override of its own, so its keys are saved with the shot."""
    made = []
    data = [obj.data] if mode != "GP_FRAMES" else []
    if mode == "IMAGES":
        data.append(mouth_targets.image_node(obj)[0])
    for block in data:
        if block is not None and block.library is not None and block.override_library is None:
            block.override_create(remap_local_usages=True)
            made.append(f"made a library override of {block.name!r} to key it")
    return made


def unique_row_name(rows: Any) -> str:
    """A name no other row has: a library override matches a table's rows by name, so each needs its own."""
    taken = {r.name for r in rows}
    k = len(rows)
    while f"row {k}" in taken:
        k += 1
    return f"row {k}"


def store(context: bpy.types.Context, p: Plan) -> None:
    """Write a checked binding onto the character (the one place Bind Character changes the scene)."""
    obj = p.obj
    st = obj.posetalk
    first = not st.is_character
    for name, value in p.settings.items():
        setattr(st, name, value)
    st.head_axes = retarget.flat(p.head_axes)
    st.neck_axes = retarget.flat(p.neck_axes)
    st.move_axes = retarget.flat(p.move_axes)
    st.mouth_object = p.mouth_object
    st.mapping.clear()
    for target, source, factor in p.rows:
        row = st.mapping.add()
        row.name = unique_row_name(st.mapping)
        row.target, row.source, row.factor = target, source, factor
    st.strip = p.strip
    if first:
        st.face_height = p.face_height
    if p.mouth_object is not None:
        p.notes += _override_mouth_data(p.mouth_object, p.settings["mouth"])
    for prefix, mode in p.rotation_modes.items():
        holder = obj.path_resolve(prefix[:-1]) if prefix else obj
        if holder.rotation_mode != mode:
            holder.rotation_mode = mode
    st.is_character = True
    context.scene.posetalk.rig = obj
