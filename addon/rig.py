"""The talking-head rig: a camera-facing image plane parented to the camera, and the sound strip it speaks.

Everything is built through ``bpy.data`` (no context-dependent operators), so it works headless. The plane's
origin is the neck pivot (``pivot_height`` of the image height above its bottom edge), so keyed rotations
turn the head about the neck. Its rest placement is kept in the delta transforms (see ``curves``).
"""

from __future__ import annotations

import math
import os
from typing import Any

import bpy

from .curves import MOUTH_CHANNELS, ROTATION_MODE

FACE_FRACTION = 0.4  # face height as a fraction of the image height (x/y are keyed in face heights)


class RigError(Exception):
    """Bad input for the rig: a clear one-line message."""


# sequencer -----------------------------------------------------------------------------------------------------
def strips(scene: bpy.types.Scene) -> Any:
    """The scene's top-level strips (``strips`` in Blender 5.0, ``sequences`` in 4.x); None without an editor."""
    sed = scene.sequence_editor
    if sed is None:
        return None
    return sed.strips if hasattr(sed, "strips") else sed.sequences


def all_strips(scene: bpy.types.Scene) -> list[Any]:
    sed = scene.sequence_editor
    if sed is None:
        return []
    return list(sed.strips_all if hasattr(sed, "strips_all") else sed.sequences_all)


def other_sequencer_scene(context: bpy.types.Context) -> bpy.types.Scene | None:
    """Blender 5.0: the scene the workspace's Sequencer shows, when it is not the window's scene (PoseTalk's)."""
    workspace = getattr(context, "workspace", None)
    seq = getattr(workspace, "sequencer_scene", None) if workspace is not None else None
    return seq if seq is not None and seq != context.scene else None


def sequencer_scene_hint(context: bpy.types.Context) -> str:
    """A note for "no sound strip" messages when the Sequencer shows another scene ('' otherwise)."""
    seq = other_sequencer_scene(context)
    if seq is None:
        return ""
    return (
        f" (the Sequencer shows scene {seq.name!r}; PoseTalk uses the strips of the window's scene "
        f"{context.scene.name!r}: switch the window to {seq.name!r} or add the sound here)"
    )


def sound_strips(scene: bpy.types.Scene) -> list[Any]:
    return [s for s in all_strips(scene) if s.type == "SOUND"]


def active_sound_strip(scene: bpy.types.Scene) -> Any | None:
    sed = scene.sequence_editor
    active = getattr(sed, "active_strip", None) if sed else None
    if active is not None and active.type == "SOUND":
        return active
    sounds = sound_strips(scene)
    selected = [s for s in sounds if s.select]
    return (selected or sounds or [None])[0]


def scene_fps(scene: bpy.types.Scene) -> float:
    return scene.render.fps / scene.render.fps_base


def external_file(block: bpy.types.ID, what: str, file_what: str) -> str:
    """Absolute path of an image or sound datablock's file, which the engine process reads.

    Raises RigError when the data is packed into the .blend or its file is missing.
    """
    if block.packed_file is not None:
        raise RigError(f"{what} is packed into the .blend: unpack it (File > External Data)")
    path = os.path.normpath(bpy.path.abspath(block.filepath, library=block.library))
    if not os.path.isfile(path):
        raise RigError(f"{file_what} is missing: {path}")
    return path


def strip_timing(scene: bpy.types.Scene, strip: Any) -> dict[str, Any]:
    """Where the strip's visible audio comes from and where it plays.

    Returns audio (absolute path), audio_offset (s into the file: the start trim plus the strip's sound
    offset), audio_duration (s, the visible length), first_frame (the scene frame of pose frame 0),
    n_frames and fps (the scene's fps / fps_base).
    """
    sound = strip.sound
    if sound is None:
        raise RigError(f"sound strip {strip.name!r} has no sound")
    path = external_file(sound, f"the sound of strip {strip.name!r}", f"the sound file of strip {strip.name!r}")
    fps = scene_fps(scene)
    start = int(strip.frame_final_start)
    end = int(strip.frame_final_end)
    if end <= start:
        raise RigError(f"sound strip {strip.name!r} is empty")
    trim = (strip.frame_final_start - strip.frame_start) / fps
    offset = trim + float(getattr(strip, "sound_offset", 0.0) or 0.0)
    return {
        "audio": path,
        "audio_offset": max(0.0, offset),
        "audio_duration": (end - start) / fps,
        "first_frame": start,
        "n_frames": end - start,
        "fps": fps,
        "channel": strip.channel,
    }


# rig lookup ----------------------------------------------------------------------------------------------------
def is_rig(obj: Any) -> bool:
    return obj is not None and obj.type == "MESH" and bool(getattr(obj.posetalk, "is_rig", False))


def find_rig(context: bpy.types.Context, name: str = "") -> bpy.types.Object | None:
    """The rig named ``name``; else the panel's rig, the active object if it is a rig, or the scene's first rig."""
    scene = context.scene
    if name:
        obj = bpy.data.objects.get(name)
        return obj if is_rig(obj) else None
    candidates = [scene.posetalk.rig, getattr(context, "active_object", None)]
    for obj in candidates:
        if is_rig(obj) and scene.objects.get(obj.name) is not None:
            return obj
    return next((o for o in scene.objects if is_rig(o)), None)


def rig_strip(scene: bpy.types.Scene, rig: bpy.types.Object) -> Any | None:
    name = rig.posetalk.strip
    if not name:
        return None
    strip = next((s for s in all_strips(scene) if s.name == name), None)
    return strip if strip is not None and strip.type == "SOUND" else None


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
        raise RigError("no image given: choose a portrait image")
    abspath = os.path.normpath(bpy.path.abspath(path))
    if not os.path.isfile(abspath):
        raise RigError(f"image not found: {abspath}")
    try:
        image = bpy.data.images.load(abspath, check_existing=True)
    except RuntimeError:
        raise RigError(f"not an image Blender can read: {abspath}") from None
    w, h = image.size
    if w == 0 or h == 0:
        bpy.data.images.remove(image)
        raise RigError(f"not an image Blender can read (empty or corrupt): {abspath}")
    image.alpha_mode = "STRAIGHT"
    if not image.is_float:
        image.colorspace_settings.name = "sRGB"
    return image


def _material(image: bpy.types.Image, name: str) -> bpy.types.Material:
    """Shadeless: the image's colour as emission, its alpha mixing in a transparent shader."""
    mat = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):
        mat.use_nodes = True
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
    if hasattr(mat, "surface_render_method"):
        mat.surface_render_method = "BLENDED"
    if hasattr(mat, "blend_method"):
        try:
            mat.blend_method = "BLEND"
        except TypeError:
            pass
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
    """Build the rig; returns the plane object. Raises RigError on bad input (nothing is created then)."""
    if distance <= 0:
        raise RigError("distance must be positive")
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
