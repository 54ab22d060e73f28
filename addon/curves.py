"""Pose and mouth channels as F-curves on the head: the channel mapping, the action's F-curves, the pose the
curves give at a frame (sparse keys and pins: ``keys``).

Pose channels (docs/architecture.md, "Formats") map onto the head plane, whose parent is the camera, so its
local axes are the camera's: X right, Y up, +Z toward the camera (the plane's front faces the camera):

* pitch (deg, > 0 chin up)    → rotation_euler.x = -radians(pitch)  (the face normal tips toward +Y: looks up)
* yaw   (deg, > 0 to viewer's right) → rotation_euler.y = +radians(yaw) (the normal tips toward +X)
* roll  (deg, > 0 counter-clockwise on screen) → rotation_euler.z = +radians(roll) (top goes toward -X)
* x, y  (face heights, > 0 right / up) → location.x/.y = value * face_height (Blender units)
* scale (> 1 closer)          → scale.x = scale.y = scale.z = value
Rotation mode is 'ZXY' (roll first, then pitch, then yaw: a head turning on its neck). The rest placement
lives in the delta transforms, so the keyed values are the pose values themselves.
"""

from __future__ import annotations

import math
from typing import Any

import bpy

from . import compat

ROTATION_MODE = "ZXY"
# (data_path, index) per F-curve of the pose, and the pose channel each one carries
POSE_FCURVES = [
    ("rotation_euler", 0, "pitch"),
    ("rotation_euler", 1, "yaw"),
    ("rotation_euler", 2, "roll"),
    ("location", 0, "x"),
    ("location", 1, "y"),
    ("scale", 0, "scale"),
    ("scale", 1, "scale"),
    ("scale", 2, "scale"),
]
POSE_CHANNELS = ["pitch", "yaw", "roll", "x", "y", "scale"]
MOUTH_CHANNELS = ["mouth_open", "mouth_wide", "mouth_round", "lips_closed"]
BLINK_CHANNEL = "blink"  # the eyelids (0 open, 1 closed): a render with this curve blinks where it says
ROT_TOL_DEG = 0.4  # key reduction tolerance for rotations (target: max deviation <= 0.5 deg)
MOVE_TOL = 0.003  # face heights
SCALE_TOL = 0.002
MOUTH_TOL = 0.05  # mouth channels (0..1): 5 % of the range


def pose_to_channel_value(channel: str, value: float, face_height: float) -> float:
    """A pose value (degrees / face heights / factor) as the property value on the plane."""
    if channel == "pitch":
        return -math.radians(value)
    if channel in ("yaw", "roll"):
        return math.radians(value)
    if channel in ("x", "y"):
        return value * face_height
    return value


def channel_value_to_pose(channel: str, value: float, face_height: float) -> float:
    """Inverse of ``pose_to_channel_value``."""
    if channel == "pitch":
        return -math.degrees(value)
    if channel in ("yaw", "roll"):
        return math.degrees(value)
    if channel in ("x", "y"):
        return value / face_height
    return value


def tolerance(channel: str, face_height: float) -> float:
    if channel in ("pitch", "yaw", "roll"):
        return math.radians(ROT_TOL_DEG)
    if channel in ("x", "y"):
        return MOVE_TOL * face_height
    if channel == "scale":
        return SCALE_TOL
    return MOUTH_TOL


# actions -------------------------------------------------------------------------------------------------------
def ensure_fcurves(obj: bpy.types.Object) -> Any:
    """The F-curve collection of ``obj``'s own action slot (created as needed: action, slot, channelbag)."""
    ad = obj.animation_data or obj.animation_data_create()
    action = ad.action
    if action is None:
        action = bpy.data.actions.new(f"PoseTalk {obj.name}")
        ad.action = action
    slot = compat.ensure_action_slot(ad, action, obj.name)
    return compat.action_fcurves(action, slot, create=True)


def find_fcurves(obj: bpy.types.Object) -> Any | None:
    """The object's F-curves (its slot's channelbag), or None when it has no animation."""
    ad = obj.animation_data
    if ad is None or ad.action is None:
        return None
    return compat.action_fcurves(ad.action, compat.action_slot(ad))


def find_fcurve(fcurves: Any, data_path: str, index: int = 0) -> bpy.types.FCurve | None:
    if fcurves is None:
        return None
    return fcurves.find(data_path, index=index)


def ensure_fcurve(fcurves: Any, data_path: str, index: int = 0) -> bpy.types.FCurve:
    fc = fcurves.find(data_path, index=index)
    return fc if fc is not None else fcurves.new(data_path, index=index)


def pose_at(fcurves: Any, frame: float, face_height: float) -> list[float]:
    """The pose (degrees, face heights, factor) the curves give at ``frame`` (rest values where none)."""
    row = []
    for channel in POSE_CHANNELS:
        if channel == "scale":
            values = []
            for i in (0, 1):
                fc = find_fcurve(fcurves, "scale", i)
                values.append(fc.evaluate(frame) if fc else 1.0)
            row.append(math.sqrt(max(values[0] * values[1], 0.0)))
            continue
        path, index, _ = next(p for p in POSE_FCURVES if p[2] == channel)
        fc = find_fcurve(fcurves, path, index)
        row.append(channel_value_to_pose(channel, fc.evaluate(frame), face_height) if fc else 0.0)
    return row
