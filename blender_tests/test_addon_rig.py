"""create_rig on real scenes: the plane's size, aspect, placement and pivot through the camera, the camera and
strip it uses, the material, and bad inputs that must change nothing."""

from __future__ import annotations

from pathlib import Path

import bpy
import pytest
from bpy_extras.object_utils import world_to_camera_view
from bt_env import needs_sound, strips_of
from mathutils import Vector


def projected_corners(scene: bpy.types.Scene, obj: bpy.types.Object) -> list[Vector]:
    bpy.context.view_layer.update()
    return [world_to_camera_view(scene, scene.camera, obj.matrix_world @ v.co) for v in obj.data.vertices]


def image_size(path: Path) -> tuple[int, int]:
    img = bpy.data.images.load(str(path), check_existing=True)
    return tuple(img.size)


@pytest.mark.parametrize("resolution", [(1920, 1080), (1080, 1920), (1000, 1000)])
def test_plane_fills_the_camera_frame_with_the_image_aspect(addon, portrait, resolution):
    scene = bpy.context.scene
    scene.render.resolution_x, scene.render.resolution_y = resolution
    assert bpy.ops.posetalk.create_rig(image_path=str(portrait)) == {"FINISHED"}
    head = scene.posetalk.rig
    assert head is not None and head.posetalk.is_rig and scene.camera is not None
    assert head.parent == scene.camera
    corners = projected_corners(scene, head)
    xs, ys = [c.x for c in corners], [c.y for c in corners]
    assert min(xs) >= -1e-4 and max(xs) <= 1 + 1e-4 and min(ys) >= -1e-4 and max(ys) <= 1 + 1e-4
    # touches the frame on its tighter side, centred on the other
    assert max(xs) - min(xs) > 0.999 or max(ys) - min(ys) > 0.999
    assert abs((min(xs) + max(xs)) / 2 - 0.5) < 1e-4 and abs((min(ys) + max(ys)) / 2 - 0.5) < 1e-4
    # on screen, the plane has the image's aspect
    w, h = image_size(portrait)
    screen_aspect = (max(xs) - min(xs)) * resolution[0] / ((max(ys) - min(ys)) * resolution[1])
    assert screen_aspect == pytest.approx(w / h, rel=1e-3)
    # in front of the camera, facing it; the pivot (origin) is at the neck, below the image centre
    for c in corners:
        assert c.z > 0
    origin = world_to_camera_view(scene, scene.camera, head.matrix_world.translation)
    assert 0.2 < origin.y < 0.45
    normal = (head.matrix_world.to_3x3() @ Vector((0, 0, 1))).normalized()
    camera_back = (scene.camera.matrix_world.to_3x3() @ Vector((0, 0, 1))).normalized()  # toward the viewer
    assert normal.dot(camera_back) > 0.9999


def test_material_is_shadeless_with_the_image_and_alpha(addon, portrait):
    assert bpy.ops.posetalk.create_rig(image_path=str(portrait)) == {"FINISHED"}
    head = bpy.context.scene.posetalk.rig
    mat = head.data.materials[0]
    nodes = {n.bl_idname: n for n in mat.node_tree.nodes}
    assert {"ShaderNodeTexImage", "ShaderNodeEmission", "ShaderNodeBsdfTransparent", "ShaderNodeMixShader"} <= set(
        nodes
    )
    tex = nodes["ShaderNodeTexImage"]
    assert Path(bpy.path.abspath(tex.image.filepath)).resolve() == portrait.resolve()
    assert tex.image.colorspace_settings.name == "sRGB"
    assert any(link.from_socket.name == "Alpha" for link in mat.node_tree.links)
    assert head.posetalk.image == tex.image
    for channel in ("mouth_open", "mouth_wide", "mouth_round", "lips_closed"):
        ui = head.id_properties_ui(channel).as_dict()
        assert head[channel] == 0.0 and ui["min"] == 0.0 and ui["max"] == 1.0


def test_existing_camera_and_objects_are_kept(addon, portrait):
    scene = bpy.context.scene
    cam_data = bpy.data.cameras.new("Shot")
    cam_data.lens = 85
    cam = bpy.data.objects.new("Shot", cam_data)
    cam.location = (3, -7, 2)
    cam.rotation_euler = (1.3, 0.1, 0.4)
    scene.collection.objects.link(cam)
    scene.camera = cam
    other = bpy.data.objects.new("Prop", bpy.data.meshes.new("Prop"))
    scene.collection.objects.link(other)
    assert bpy.ops.posetalk.create_rig(image_path=str(portrait), distance=3.0) == {"FINISHED"}
    head = scene.posetalk.rig
    assert scene.camera == cam and head.parent == cam
    assert len([o for o in scene.objects if o.type == "CAMERA"]) == 1
    assert tuple(cam.location) == pytest.approx((3, -7, 2))
    xs = [c.x for c in projected_corners(scene, head)]
    assert min(xs) >= -1e-4 and max(xs) <= 1 + 1e-4


@needs_sound
def test_links_the_active_or_the_chosen_sound_strip(addon, portrait, speech_wav, espeak):
    scene = bpy.context.scene
    strips = strips_of(scene)
    first = strips.new_sound("first", str(speech_wav), 1, 1)
    second = strips.new_sound("second", str(espeak("Hello there.")), 2, 200)
    scene.sequence_editor.active_strip = second
    assert bpy.ops.posetalk.create_rig(image_path=str(portrait)) == {"FINISHED"}
    assert scene.posetalk.rig.posetalk.strip == "second"
    assert bpy.ops.posetalk.create_rig(image_path=str(portrait), strip=first.name, name="Other") == {"FINISHED"}
    assert scene.posetalk.rig.name == "Other" and scene.posetalk.rig.posetalk.strip == "first"
    with pytest.raises(RuntimeError, match="no sound strip named"):
        bpy.ops.posetalk.create_rig(image_path=str(portrait), strip="nope")


def test_without_sound_strip_the_rig_waits_for_one(addon, portrait):
    assert bpy.ops.posetalk.create_rig(image_path=str(portrait)) == {"FINISHED"}
    assert bpy.context.scene.posetalk.rig.posetalk.strip == ""


def _counts() -> tuple[int, ...]:
    d = bpy.data
    return (len(d.objects), len(d.meshes), len(d.materials), len(d.images), len(d.cameras))


@pytest.mark.parametrize("kind", ["missing", "not-an-image", "empty-path"])
def test_bad_image_changes_nothing(addon, tmp_path, kind):
    if kind == "missing":
        path, message = str(tmp_path / "nope.png"), "image not found"
    elif kind == "not-an-image":
        path = tmp_path / "notes.png"
        path.write_text("this is not a picture")
        path, message = str(path), "not an image"
    else:
        path, message = "", "no image given"
    before = _counts()
    with pytest.raises(RuntimeError, match=message):
        bpy.ops.posetalk.create_rig(image_path=path)
    assert _counts() == before
    assert bpy.context.scene.camera is None


def test_non_ascii_image_path(addon, portrait, tmp_path):
    target = tmp_path / "pörträt ünïcødé.png"
    target.write_bytes(portrait.read_bytes())
    assert bpy.ops.posetalk.create_rig(image_path=str(target)) == {"FINISHED"}
