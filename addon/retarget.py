"""Head motion onto a character: the pose's turns, moves and scale as curves of a head bone (with a neck bone
sharing the turns) or of a head object, in the head's own space; and back, the pose the curves give (pins,
frame ranges).

The character's frame C is fixed when the character is bound: +X the viewer's right, +Y away from the viewer,
+Z up, for a character facing -Y (Blender's front). A pose turns the head in C by
``R = Rz(yaw) · Rx(-pitch) · Ry(-roll)`` (roll first, then pitch, then yaw, as on the portrait plane), so
yaw > 0 turns the face to the viewer's right, pitch > 0 raises the chin, roll > 0 tilts the head toward the
viewer's left (docs/architecture.md, "Formats"). Each bone (or object) keeps ``A``, which maps C's vectors
into its own space; its turn is then ``A · R · Aᵀ``. The neck bone turns by the same pose scaled by its share,
the head bone by what is left, exactly: ``R_neck⁻¹ · R``. When ``A`` only permutes and flips axes and the
bone's Euler order is roll's axis, then pitch's, then yaw's, each Euler curve carries one pose channel
(the most editable curves); any other rotation mode gets the exact rotation in that mode.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import bpy
from mathutils import Euler, Matrix, Quaternion, Vector

from .curves import MOVE_TOL, POSE_CHANNELS, ROT_TOL_DEG, SCALE_TOL
from .errors import UserError

PITCH, YAW, ROLL, X, Y, SCALE = range(6)
TURNS = (PITCH, YAW, ROLL)
AXIS_VECTORS = {"X": (1, 0, 0), "-X": (-1, 0, 0), "Y": (0, 1, 0), "-Y": (0, -1, 0), "Z": (0, 0, 1), "-Z": (0, 0, -1)}
# bone names and axes (pitch, yaw, roll) of the rigs the presets know; the first name a rig has is taken
RIG_PRESETS: dict[str, dict[str, Any]] = {
    "RIGIFY": {"head": ("head",), "neck": ("neck",), "axes": ("-X", "Y", "Z")},
    "MIXAMO": {
        "head": ("mixamorig:Head", "mixamorig1:Head", "Head"),
        "neck": ("mixamorig:Neck", "mixamorig1:Neck", "Neck"),
        "axes": ("-X", "Y", "Z"),
    },  # fmt: skip
    "AUTO_RIG_PRO": {"head": ("c_head.x", "head.x"), "neck": ("c_neck.x", "neck.x"), "axes": ("-X", "Y", "Z")},
}


# the character's frame ------------------------------------------------------------------------------------------
def turn(pitch: float, yaw: float, roll: float) -> Matrix:
    """The pose's turn (degrees) in the character's frame."""
    return Euler((-math.radians(pitch), -math.radians(roll), math.radians(yaw)), "YXZ").to_matrix()


def turn_angles(m: Matrix) -> tuple[float, float, float]:
    """Inverse of :func:`turn`: (pitch, yaw, roll) in degrees."""
    e = m.to_euler("YXZ")
    return -math.degrees(e.x), math.degrees(e.z), -math.degrees(e.y)


def axes_from_letters(pitch: str, yaw: str, roll: str) -> Matrix:
    """``A`` from the own axes each turn rotates about (e.g. -X, Y, Z: Rigify's head bone)."""
    a_pitch, a_yaw, a_roll = (Vector(AXIS_VECTORS[a]) for a in (pitch, yaw, roll))
    if len({tuple(map(abs, v)) for v in (a_pitch, a_yaw, a_roll)}) < 3:
        raise UserError(f"the pitch, yaw and roll axes must be three different axes, got {pitch}, {yaw}, {roll}")
    a = Matrix((-a_pitch, -a_roll, a_yaw)).transposed()  # columns: C's +X, +Y, +Z in the own space
    if a.determinant() < 0:
        raise UserError(f"the axes {pitch}, {yaw}, {roll} mirror the head: flip one of them")
    return a


def axes_from_rest(world_rotation: Matrix) -> Matrix:
    """``A`` of a bone or object whose rest orientation in the world is ``world_rotation`` (the character
    faces -Y when bound, so C is the world)."""
    return world_rotation.to_3x3().normalized().transposed()


def flat(m: Matrix) -> tuple[float, ...]:
    return tuple(m[i][j] for i in range(3) for j in range(3))


def unflat(values: Sequence[float]) -> Matrix:
    return Matrix((values[0:3], values[3:6], values[6:9]))


def euler_order(a: Matrix) -> tuple[str, dict[int, tuple[int, int]]] | None:
    """The Euler order whose every curve carries one turn (roll's axis first, then pitch's, then yaw's) and
    {curve index: (pose channel, sign)}; None when ``A`` does more than permute and flip axes."""
    out: dict[int, tuple[int, int]] = {}
    letters = ""
    for channel, column, flip in ((ROLL, 1, -1), (PITCH, 0, -1), (YAW, 2, 1)):
        v = [flip * a[i][column] for i in range(3)]
        k = max(range(3), key=lambda i: abs(v[i]))
        if abs(abs(v[k]) - 1.0) > 1e-4 or any(abs(v[i]) > 1e-4 for i in range(3) if i != k):
            return None
        out[k] = (channel, 1 if v[k] > 0 else -1)
        letters += "XYZ"[k]
    return letters, out


# channels ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Channel:
    """One F-curve of the head: where it is, which pose channels a key of the animator's on it pins, its key
    reduction tolerance and its unit in degrees (0 when it is not a turn)."""

    data_path: str
    index: int
    pins: tuple[int, ...]
    tol: float
    degrees: float = 0.0


@dataclass
class Part:
    """A turning part of the head: the head bone, the neck bone or the head object."""

    path: str  # 'pose.bones["head"].' or '' for the object itself
    holder: Any  # the pose bone or the object (its rotation mode)
    axes: Matrix
    share: float  # of the pose's turn (the head: what the neck leaves)


ROT_TOL = math.radians(ROT_TOL_DEG)


class CharacterHead:
    """The head of a bound character (``obj.posetalk``): its curves, the values they take for a pose, and the
    pose its curves give back."""

    def __init__(self, obj: bpy.types.Object) -> None:
        p = obj.posetalk
        self.obj = obj
        self.face_height = p.face_height
        self.parts: list[Part] = []
        if obj.type == "ARMATURE":
            head = obj.pose.bones.get(p.head_bone)
            if head is None:
                raise UserError(f"{obj.name} has no bone {p.head_bone!r}: bind the character again")
            neck = obj.pose.bones.get(p.neck_bone) if p.neck_bone else None
            if p.neck_bone and neck is None:
                raise UserError(f"{obj.name} has no bone {p.neck_bone!r}: bind the character again")
            if neck is not None and p.neck_share > 0:
                self.parts.append(Part(_bone_path(neck), neck, unflat(p.neck_axes), p.neck_share))
            self.parts.append(Part(_bone_path(head), head, unflat(p.head_axes), 1.0))
        else:
            self.parts.append(Part("", obj, unflat(p.head_axes), 1.0))
        self.head = self.parts[-1]
        self.move_axes = unflat(p.move_axes)
        self.use_location, self.use_scale = p.use_location, p.use_scale

    # the curves
    def channels(self) -> list[Channel]:
        out: list[Channel] = []
        for part in self.parts:
            mode = part.holder.rotation_mode
            # the neck's and the head's key errors add up in the head: each gets its share of the tolerance
            tol = ROT_TOL * (part.share if part is not self.head else 1.0 - sum(p.share for p in self.parts[:-1]))
            tol = max(tol, ROT_TOL * 0.1)
            if mode == "QUATERNION":
                for i in range(4):
                    out.append(Channel(part.path + "rotation_quaternion", i, TURNS, tol / 2, 2 * math.degrees(1)))
            elif mode == "AXIS_ANGLE":
                raise UserError(f"{_name(part)} turns in Axis Angle mode: set it to Quaternion or an Euler order")
            else:
                pure = euler_order(part.axes)
                for i in range(3):
                    pins = (pure[1][i][0],) if pure and pure[0] == mode else TURNS
                    out.append(Channel(part.path + "rotation_euler", i, pins, tol, math.degrees(1)))
        fh = self.face_height
        if self.use_location:
            for i in range(3):
                pins = tuple(c for c, col in ((X, 0), (Y, 2)) if abs(self.move_axes[i][col]) > 1e-6)
                if pins:
                    out.append(Channel(self.head.path + "location", i, pins, MOVE_TOL * fh))
        if self.use_scale:
            out += [Channel(self.head.path + "scale", i, (SCALE,), SCALE_TOL) for i in range(3)]
        return out

    def _own_turn(self, part: Part, row: Sequence[float]) -> Matrix:
        """The part's turn in C for a pose row: the neck's share, and the head's rest of the whole turn."""
        full = turn(row[PITCH], row[YAW], row[ROLL])
        if len(self.parts) == 1:
            return full
        neck = turn(*(self.parts[0].share * row[c] for c in TURNS))
        return neck if part is self.parts[0] else neck.inverted() @ full

    def dense(self, rows: Sequence[Sequence[float]]) -> list[list[float]]:
        """Each channel's value per pose row (degrees, face heights, factor), in the order of :meth:`channels`."""
        columns: list[list[float]] = []
        for part in self.parts:
            mode = part.holder.rotation_mode
            pure = euler_order(part.axes)
            exact_angles = pure is not None and pure[0] == mode and len(self.parts) == 1
            values: list[tuple[float, ...]] = []
            prev: Any = None
            for row in rows:
                local = part.axes @ self._own_turn(part, row) @ part.axes.transposed()
                if mode == "QUATERNION":
                    q = local.to_quaternion()
                    if prev is not None and q.dot(prev) < 0:  # stay in one hemisphere: no flips between keys
                        q.negate()
                    prev = q
                    values.append(tuple(q))
                elif exact_angles:  # each curve is one of the pose's angles
                    e = [0.0, 0.0, 0.0]
                    for k, (channel, sign) in pure[1].items():
                        e[k] = sign * math.radians(row[channel])
                    values.append(tuple(e))
                else:
                    prev = local.to_euler(mode, prev) if prev is not None else local.to_euler(mode)
                    values.append(tuple(prev))
            width = 4 if mode == "QUATERNION" else 3
            columns += [[v[i] for v in values] for i in range(width)]
        fh = self.face_height
        if self.use_location:
            for i in range(3):
                cx, cy = self.move_axes[i][0], self.move_axes[i][2]
                if abs(cx) > 1e-6 or abs(cy) > 1e-6:
                    columns.append([(cx * row[X] + cy * row[Y]) * fh for row in rows])
        if self.use_scale:
            columns += [[float(row[SCALE]) for row in rows] for _ in range(3)]
        return columns

    def pose_at(self, fcurves: Any, frame: float) -> list[float]:
        """The pose (degrees, face heights, factor) the head's curves give at ``frame`` (rest where none)."""

        def value(path: str, i: int, rest: float) -> float:
            fc = fcurves.find(path, index=i) if fcurves is not None else None
            return fc.evaluate(frame) if fc is not None else rest

        total = Matrix.Identity(3)
        for part in self.parts:
            mode = part.holder.rotation_mode
            if mode == "QUATERNION":
                rest = (1.0, 0.0, 0.0, 0.0)
                local = Quaternion([value(part.path + "rotation_quaternion", i, rest[i]) for i in range(4)])
                local = local.normalized().to_matrix()
            else:
                local = Euler([value(part.path + "rotation_euler", i, 0.0) for i in range(3)], mode).to_matrix()
            total = total @ (part.axes.transposed() @ local @ part.axes)
        pitch, yaw, roll = turn_angles(total)
        move = Vector([value(self.head.path + "location", i, 0.0) for i in range(3)])
        moved = self.move_axes.transposed() @ move
        fh = self.face_height
        scale = value(self.head.path + "scale", 0, 1.0)
        return [pitch, yaw, roll, moved.x / fh, moved.z / fh, scale]


def _bone_path(bone: bpy.types.PoseBone) -> str:
    return f'pose.bones["{bpy.utils.escape_identifier(bone.name)}"].'


def _name(part: Part) -> str:
    return f"bone {part.holder.name!r}" if part.path else f"object {part.holder.name!r}"


assert POSE_CHANNELS[PITCH] == "pitch" and POSE_CHANNELS[SCALE] == "scale"
