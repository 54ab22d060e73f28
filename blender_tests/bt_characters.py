"""Characters built through ``bpy.data`` for the add-on tests, ``scripts/character_keys.py`` and
``scripts/character_pictures.py``: a Rigify-like and a Mixamo-like armature, a rig with its own axes, a head
mesh with shape keys, and 2D mouths (Grease Pencil drawings and layers, an image sequence on a plane).

Every head faces -Y. The face meshes are simple but real: a sphere head with eyes and a mouth whose shape keys
open, round, widen and close it, so renders show what the keys do.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import bmesh
import bpy
from mathutils import Matrix, Vector

ARKIT_KEYS = ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthSmile_L", "mouthSmile_R",
              "mouthStretchLeft", "mouthStretchRight", "eyeBlink_L", "eyeBlink_R")  # fmt: skip
OCULUS_KEYS = tuple(f"viseme_{v}" for v in "sil PP FF TH DD kk CH SS nn RR aa E I O U".split())
RHUBARB_SHAPES = ("A", "B", "C", "D", "E", "F", "G", "H", "X")
# mouth openness (height, width) of each Rhubarb shape, for drawings and shape keys
SHAPE_SIZES = {"A": (0.02, 0.9), "B": (0.25, 0.9), "C": (0.5, 0.85), "D": (0.9, 0.9), "E": (0.55, 0.6),
               "F": (0.35, 0.35), "G": (0.15, 0.8), "H": (0.6, 0.75), "X": (0.05, 0.7)}  # fmt: skip


def _link(scene: bpy.types.Scene, obj: bpy.types.Object) -> bpy.types.Object:
    scene.collection.objects.link(obj)
    return obj


def armature(
    scene: bpy.types.Scene, name: str, bones: Sequence[tuple[str, tuple, tuple, str | None, float]],
    matrix: Matrix | None = None,
) -> bpy.types.Object:  # fmt: skip
    """An armature object from (name, head, tail, parent, roll in degrees) bones."""
    obj = _link(scene, bpy.data.objects.new(name, bpy.data.armatures.new(name)))
    if matrix is not None:
        obj.matrix_world = matrix
    view_layer = bpy.context.view_layer
    view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for bone_name, head, tail, parent, roll in bones:
        eb = obj.data.edit_bones.new(bone_name)
        eb.head, eb.tail, eb.roll = head, tail, math.radians(roll)
        if parent:
            eb.parent = obj.data.edit_bones[parent]
            eb.use_connect = False
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def _material(name: str, color: tuple[float, float, float]) -> bpy.types.Material:
    mat = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    mat.diffuse_color = (*color, 1.0)
    return mat


def face_mesh(
    scene: bpy.types.Scene, name: str, keys: Sequence[str], radius: float = 0.15, center: tuple = (0, 0, 0)
) -> bpy.types.Object:
    """A head: a skin sphere, two eyes and a mouth disc in front, with shape keys ``keys`` (each moves the
    mouth or the eyes the way its name says: open, round, wide, closed, smile, blink; any other name gets a
    distinct mouth shape)."""
    bm = bmesh.new()
    part = bm.verts.layers.int.new("pt_part")  # 0 skin, 1 eye, 2 mouth (to_mesh may reorder the vertices)
    bmesh.ops.create_uvsphere(bm, u_segments=24, v_segments=16, radius=radius)
    for side in (-1, 1):
        eye = bmesh.ops.create_uvsphere(bm, u_segments=8, v_segments=6, radius=radius * 0.13)
        bmesh.ops.translate(bm, verts=eye["verts"], vec=(side * radius * 0.38, -radius * 0.86, radius * 0.28))
        for v in eye["verts"]:
            v[part] = 1
    disc = bmesh.ops.create_circle(bm, cap_ends=True, segments=20, radius=radius * 0.35)
    bmesh.ops.rotate(bm, verts=disc["verts"], cent=(0, 0, 0), matrix=Matrix.Rotation(math.pi / 2, 3, "X"))
    bmesh.ops.scale(bm, verts=disc["verts"], vec=(1.0, 1.0, 0.05))
    bmesh.ops.translate(bm, verts=disc["verts"], vec=(0, -radius * 1.02, -radius * 0.4))
    for v in disc["verts"]:
        v[part] = 2
    mesh = bpy.data.meshes.new(name)
    bm.to_mesh(mesh)
    bm.free()
    parts = [0] * len(mesh.vertices)
    mesh.attributes["pt_part"].data.foreach_get("value", parts)
    for mat in (_material("skin", (0.85, 0.62, 0.48)), _material("dark", (0.08, 0.03, 0.03))):
        mesh.materials.append(mat)
    for poly in mesh.polygons:
        poly.material_index = 0 if all(parts[v] == 0 for v in poly.vertices) else 1
    obj = _link(scene, bpy.data.objects.new(name, mesh))
    obj.location = center
    obj.shape_key_add(name="Basis", from_mix=False)
    mouth_y0 = -radius * 0.4
    mouth = [v for v in range(len(mesh.vertices)) if parts[v] == 2]
    eyes = [v for v in range(len(mesh.vertices)) if parts[v] == 1]
    for i, key_name in enumerate(keys):
        kb = obj.shape_key_add(name=key_name, from_mix=False)
        low = key_name.lower()
        for v in mouth:
            co = Vector(mesh.vertices[v].co)
            dx, dz = co.x, co.z - mouth_y0
            if "blink" in low:
                break
            if "open" in low or low.endswith(("_aa", "_d", "d")):
                dz *= 12.0
            elif any(w in low for w in ("funnel", "pucker", "round", "_o", "_u")):
                dx, dz = dx * 0.55, dz * 8.0
            elif any(w in low for w in ("smile", "stretch", "wide", "_e", "_i")):
                dx *= 1.35 if ("left" in low or low.endswith("_l")) == (dx > 0) or "wide" in low else 1.0
            elif "close" in low or low.endswith("_pp"):
                dz *= 0.2
            else:  # a distinct shape per remaining key
                dx, dz = dx * (0.6 + 0.07 * (i % 7)), dz * (2.0 + i % 5)
            kb.data[v].co = (dx, co.y, mouth_y0 + dz)
        if "blink" in low:
            for v in eyes:
                co = mesh.vertices[v].co
                if ("_l" in low or "left" in low) == (co.x > 0):
                    kb.data[v].co = (co.x, co.y, radius * 0.28 + (co.z - radius * 0.28) * 0.1)
    return obj


def _parent_to_bone(child: bpy.types.Object, rig: bpy.types.Object, bone: str) -> None:
    """Parent ``child`` to ``bone`` where it stands (its world matrix kept)."""
    bpy.context.view_layer.update()  # matrix_world follows a new location only after an update
    world = child.matrix_world.copy()
    child.parent, child.parent_type, child.parent_bone = rig, "BONE", bone
    bpy.context.view_layer.update()
    child.matrix_world = world


def _key_base(rig: bpy.types.Object, bone: str, name: str, path: str, frames: dict[int, Sequence[float]]) -> None:
    """The character's own animation: an action keying ``path`` of ``bone`` (kept under PoseTalk's layer)."""
    ad = rig.animation_data or rig.animation_data_create()
    if ad.action is None:
        ad.action = bpy.data.actions.new(name)
    pb = rig.pose.bones[bone]
    for frame, value in frames.items():
        setattr(pb, path, value)
        pb.keyframe_insert(path, frame=frame)
    setattr(pb, path, frames[min(frames)])


def rigify_like(scene: bpy.types.Scene) -> tuple[bpy.types.Object, bpy.types.Object]:
    """Rigify's names and axes (bones straight up, roll 0), quaternion controls, an arm waving in the
    character's own action, and a face with ARKit shape keys on the head bone."""
    rig = armature(scene, "RIG-Rigify", [
        ("torso", (0, 0, 0.0), (0, 0, 1.0), None, 0), ("neck", (0, 0, 1.0), (0, 0, 1.15), "torso", 0),
        ("head", (0, 0, 1.15), (0, 0, 1.45), "neck", 0), ("upper_arm.L", (0.15, 0, 0.95), (0.45, 0, 0.95), "torso", 0),
    ])  # fmt: skip
    _key_base(rig, "upper_arm.L", "Wave", "rotation_quaternion",
              {1: (1, 0, 0, 0), 40: (0.92, 0, 0.39, 0), 80: (1, 0, 0, 0)})  # fmt: skip
    face = face_mesh(scene, "Face", ARKIT_KEYS, center=(0, 0, 1.3))
    _parent_to_bone(face, rig, "head")
    return rig, face


def mixamo_like(scene: bpy.types.Scene) -> tuple[bpy.types.Object, bpy.types.Object]:
    """As an FBX import from Mixamo: Y-up bones in centimetres under an object turned 90° about X and scaled
    0.01, 'mixamorig:' names, quaternions, the character's own action moving the hips and holding the head,
    and a face with Oculus viseme shape keys ('viseme_aa' ...)."""
    m = Matrix.Rotation(math.pi / 2, 4, "X") @ Matrix.Diagonal((0.01, 0.01, 0.01, 1.0))
    rig = armature(scene, "Armature", [
        ("mixamorig:Hips", (0, 100, 0), (0, 110, 0), None, 0), ("mixamorig:Spine", (0, 110, 0), (0, 140, 0), "mixamorig:Hips", 0),
        ("mixamorig:Neck", (0, 140, 0), (0, 152, 0), "mixamorig:Spine", 0), ("mixamorig:Head", (0, 152, 0), (0, 180, 0), "mixamorig:Neck", 0),
    ], m)  # fmt: skip
    _key_base(rig, "mixamorig:Hips", "mixamo.com", "location", {1: (0, 0, 0), 50: (0, 3, 0), 100: (0, 0, 0)})
    _key_base(rig, "mixamorig:Head", "mixamo.com", "rotation_quaternion", {1: (1, 0, 0, 0)})
    face = face_mesh(scene, "Wolf3D_Head", OCULUS_KEYS, center=(0, 0, 1.62))
    _parent_to_bone(face, rig, "mixamorig:Head")
    return rig, face


def custom_axis_rig(scene: bpy.types.Scene) -> bpy.types.Object:
    """A rig with its own conventions: the head bone points forward (-Y) with its X axis up, so it yaws about
    its own X, pitches about -Z and rolls about Y (bind it with CUSTOM axes -Z, X, Y)."""
    rig = armature(scene, "CustomRig", [
        ("Bip Spine", (0, 0, 0), (0, 0, 1.2), None, 0), ("Bip Head", (0, 0, 1.4), (0, -0.3, 1.4), "Bip Spine", 0),
    ])  # fmt: skip
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    rig.data.edit_bones["Bip Head"].align_roll((1, 0, 0))  # its Z axis to the character's left: X points up
    bpy.ops.object.mode_set(mode="OBJECT")
    return rig


def shapekey_head(
    scene: bpy.types.Scene, keys: Sequence[str] = ("Open", "Wide", "Round", "Closed")
) -> bpy.types.Object:
    """A head that is one mesh object (no armature) with its own mouth shape keys."""
    return face_mesh(scene, "Blob", keys, radius=0.5, center=(0, 0, 1.0))


def _stroke_points(shape: str, n: int = 24) -> list[tuple[float, float, float]]:
    h, w = SHAPE_SIZES[shape]
    return [(0.3 * w * math.cos(2 * math.pi * k / (n - 1)), 0.0, 0.15 * h * math.sin(2 * math.pi * k / (n - 1)))
            for k in range(n)]  # fmt: skip


def _gp_object(scene: bpy.types.Scene, name: str) -> bpy.types.Object:
    from bt_env import compat  # noqa: PLC0415 (the add-on's version differences)

    gp = compat.gp_data().new(name)
    try:
        obj = _link(scene, bpy.data.objects.new(name, gp))
    except RuntimeError:  # 4.3-4.5: objects.new refuses Grease Pencil v3 data, the Add operator makes one
        compat.gp_data().remove(gp)
        bpy.ops.object.grease_pencil_add(type="EMPTY")
        obj = bpy.context.active_object
        obj.name = obj.data.name = name
        for layer in list(obj.data.layers):
            obj.data.layers.remove(layer)
        obj.data.materials.clear()
        gp = obj.data
    mat = bpy.data.materials.new(f"{name} ink")
    bpy.data.materials.create_gpencil_data(mat)
    mat.grease_pencil.color = (0.05, 0.02, 0.02, 1.0)
    gp.materials.append(mat)
    return obj


def _draw(frame: bpy.types.GreasePencilFrame, points: Sequence[tuple[float, float, float]], radius: float) -> None:
    drawing = frame.drawing
    drawing.add_strokes([len(points)])
    stroke = drawing.strokes[len(drawing.strokes) - 1]
    for p, co in zip(stroke.points, points):
        p.position, p.radius, p.opacity = co, radius, 1.0


def gp_mouth_frames(scene: bpy.types.Scene, shapes: Sequence[str] = RHUBARB_SHAPES) -> bpy.types.Object:
    """A 2D character drawn in Grease Pencil: a 'head' layer (an outline and eyes) and a 'mouth' layer with one
    drawing per mouth shape on frames 1, 2, 3 ... (in the order of ``shapes``)."""
    obj = _gp_object(scene, "Toon")
    head = obj.data.layers.new("head")
    frame = head.frames.new(1)
    _draw(
        frame,
        [(0.5 * math.cos(a / 31 * 2 * math.pi), 0, 0.6 * math.sin(a / 31 * 2 * math.pi) + 0.2) for a in range(32)],
        0.02,
    )
    for side in (-1, 1):
        _draw(frame, [(side * 0.18 + 0.04 * math.cos(a / 9 * 2 * math.pi), 0, 0.35 + 0.06 * math.sin(a / 9 * 2 * math.pi))
                      for a in range(10)], 0.02)  # fmt: skip
    layer = obj.data.layers.new("mouth")
    for k, shape in enumerate(shapes):
        _draw(layer.frames.new(k + 1), [(x, y, z - 0.1) for x, y, z in _stroke_points(shape)], 0.015)
    return obj


def gp_mouth_layers(scene: bpy.types.Scene, shapes: Sequence[str] = RHUBARB_SHAPES) -> bpy.types.Object:
    """A 2D mouth with one Grease Pencil layer per shape, named 'mouth_A' ... (one drawing each)."""
    obj = _gp_object(scene, "ToonLayers")
    for shape in shapes:
        _draw(obj.data.layers.new(f"mouth_{shape}").frames.new(1), _stroke_points(shape), 0.015)
    return obj


def image_mouth(scene: bpy.types.Scene, folder: str, shapes: Sequence[str] = RHUBARB_SHAPES) -> bpy.types.Object:
    """A plane showing an image sequence of drawn mouths (mouth_0001.png ... one per shape, in order)."""
    size = 48
    for k, shape in enumerate(shapes):
        h, w = SHAPE_SIZES[shape]
        img = bpy.data.images.new(f"mouth {shape}", size, size)
        px = []
        for y in range(size):
            for x in range(size):
                u, v = (x - size / 2) / (size * 0.45 * w), (y - size / 2) / (size * 0.4 * max(h, 0.04))
                px += [0.1, 0.02, 0.02, 1.0] if u * u + v * v < 1 else [0.95, 0.8, 0.7, 1.0]
        img.pixels = px
        img.filepath_raw = os.path.join(folder, f"mouth_{k + 1:04d}.png")
        img.file_format = "PNG"
        img.save()
        bpy.data.images.remove(img)
    image = bpy.data.images.load(os.path.join(folder, "mouth_0001.png"))
    image.source = "SEQUENCE"
    mat = bpy.data.materials.new("mouth drawings")
    if bpy.app.version < (5, 0, 0):
        mat.use_nodes = True
    tex = mat.node_tree.nodes.new("ShaderNodeTexImage")
    tex.image = image
    bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    mat.node_tree.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    mesh = bpy.data.meshes.new("MouthPlane")
    mesh.from_pydata([(-0.2, 0, -0.2), (0.2, 0, -0.2), (0.2, 0, 0.2), (-0.2, 0, 0.2)], [], [(0, 1, 2, 3)])
    uv = mesh.uv_layers.new()
    for loop, co in zip(uv.data, ((0, 0), (1, 0), (1, 1), (0, 1))):
        loop.uv = co
    mesh.materials.append(mat)
    return _link(scene, bpy.data.objects.new("MouthPlane", mesh))
