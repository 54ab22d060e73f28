"""The talking-head rig: a camera-facing image plane parented to the camera (the sound strip it speaks: sequencer).

Everything is built through ``bpy.data`` (no context-dependent operators), so it works headless. The plane's
origin is the neck pivot (``pivot_height`` of the image height above its bottom edge), so keyed rotations
turn the head about the neck. Its rest placement is kept in the delta transforms (see ``curves``).
"""

from __future__ import annotations

import math
import os
from typing import Any

import bpy

from . import compat
from .curves import MOUTH_CHANNELS, ROTATION_MODE
from .errors import UserError

FACE_FRACTION = 0.4  # face height as a fraction of the image height (x/y are keyed in face heights)


def is_rig(obj: Any) -> bool:
    """A portrait plane made by Create Talking Head (any talking head: ``targets.is_target``)."""
    return obj is not None and obj.type == "MESH" and bool(getattr(obj.posetalk, "is_rig", False))


# building ------------------------------------------------------------------------------------------------------
def _ensure_camera(scene: bpy.types.Scene) -> bpy.types.Object:
    if scene.camera is not None:
        return scene.camera
    cam = next((o for o in scene.objects if o.type == "CAMERA"), None)
    if cam is None:
        data = bpy.data.cameras.new("PoseTalk Camera")
        cam = bpy.data.objects.new("PoseTalk Camera", data)
        cam.location = (0.0, -4.0, 1.5)
        cam.rotation_euler = (math.pi / 2, 0.0, 0.0)
        scene.collection.objects.link(cam)
    scene.camera = cam
    return cam


def _load_image(path: str) -> bpy.types.Image:
    if not path:
        raise UserError("no image given: choose a portrait image")
    abspath = os.path.normpath(bpy.path.abspath(path))
    if not os.path.isfile(abspath):
        raise UserError(f"image not found: {abspath}")
    try:
        image = bpy.data.images.load(abspath, check_existing=True)
    except RuntimeError:
        raise UserError(f"not an image Blender can read: {abspath}") from None
    w, h = image.size
    if w == 0 or h == 0:
        bpy.data.images.remove(image)
        raise UserError(f"not an image Blender can read (empty or corrupt): {abspath}")
    image.alpha_mode = "STRAIGHT"
    if not image.is_float:
        image.colorspace_settings.name = "sRGB"
    return image


def _material(image: bpy.types.Image, name: str) -> bpy.types.Material:
    """Shadeless: the image's colour as emission, its alpha mixing in a transparent shader."""
    mat = compat.new_node_material(name)
    nt = mat.node_tree
    nt.nodes.clear()
    tex = nt.nodes.new("ShaderNodeTexImage")
    tex.image = image
    tex.interpolation = "Linear"
    emit = nt.nodes.new("ShaderNodeEmission")
    clear = nt.nodes.new("ShaderNodeBsdfTransparent")
    mix = nt.nodes.new("ShaderNodeMixShader")
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    for i, node in enumerate((tex, emit, clear, mix, out)):
        node.location = (i * 220 - 400, 0)
    nt.links.new(tex.outputs["Color"], emit.inputs["Color"])
    nt.links.new(tex.outputs["Alpha"], mix.inputs[0])
    nt.links.new(clear.outputs[0], mix.inputs[1])
    nt.links.new(emit.outputs[0], mix.inputs[2])
    nt.links.new(mix.outputs[0], out.inputs["Surface"])
    compat.set_alpha_blend(mat)
    return mat


def frame_size_at(scene: bpy.types.Scene, cam: bpy.types.Object, distance: float) -> tuple[float, float]:
    """Width and height of the camera frame at ``distance`` in front of the camera (its local units)."""
    corners = cam.data.view_frame(scene=scene)
    xs = [c.x for c in corners]
    ys = [c.y for c in corners]
    depth = -corners[0].z
    k = distance / depth if cam.data.type != "ORTHO" and depth > 0 else 1.0
    return (max(xs) - min(xs)) * k, (max(ys) - min(ys)) * k


def create_rig(
    scene: bpy.types.Scene,
    image_path: str,
    strip: Any | None = None,
    name: str = "PoseTalk Head",
    distance: float = 2.0,
    pivot_height: float = 0.3,
    fill: float = 1.0,
) -> bpy.types.Object:
    """Build the rig; returns the plane object. Raises UserError on bad input (nothing is created then)."""
    if distance <= 0:
        raise UserError("distance must be positive")
    image = _load_image(image_path)
    cam = _ensure_camera(scene)
    frame_w, frame_h = frame_size_at(scene, cam, distance)
    w, h = image.size
    aspect = w / h
    plane_h = min(frame_h, frame_w / aspect) * fill
    plane_w = plane_h * aspect
    below, above = pivot_height * plane_h, (1.0 - pivot_height) * plane_h
    verts = [
        (-plane_w / 2, -below, 0.0),
        (plane_w / 2, -below, 0.0),
        (plane_w / 2, above, 0.0),
        (-plane_w / 2, above, 0.0),
    ]
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts, [], [(0, 1, 2, 3)])
    uv = mesh.uv_layers.new(name="UVMap")
    for loop, co in zip(uv.data, ((0, 0), (1, 0), (1, 1), (0, 1))):
        loop.uv = co
    mesh.materials.append(_material(image, name))
    mesh.update()
    obj = bpy.data.objects.new(name, mesh)
    scene.collection.objects.link(obj)
    obj.parent = cam
    obj.matrix_parent_inverse.identity()  # local space = camera space
    obj.delta_location = (0.0, -plane_h / 2 + below, -distance)
    obj.rotation_mode = ROTATION_MODE
    obj.location = (0.0, 0.0, 0.0)
    obj.rotation_euler = (0.0, 0.0, 0.0)
    obj.scale = (1.0, 1.0, 1.0)
    for channel in MOUTH_CHANNELS:
        obj[channel] = 0.0
        ui = obj.id_properties_ui(channel)
        ui.update(min=0.0, max=1.0, soft_min=0.0, soft_max=1.0, step=1, precision=3, description=_MOUTH_HELP[channel])
    props = obj.posetalk
    props.is_rig = True
    props.image = image
    props.face_height = FACE_FRACTION * plane_h
    props.strip = strip.name if strip is not None else ""
    scene.posetalk.rig = obj
    return obj


_MOUTH_HELP = {
    "mouth_open": "Jaw/mouth opening: 0 closed, 1 widest (PoseTalk lip sync)",
    "mouth_wide": "Lip corners pulled wide (ee, s)",
    "mouth_round": "Rounded, pursed lips (oo, w)",
    "lips_closed": "Lips pressed together (p, b, m)",
}
