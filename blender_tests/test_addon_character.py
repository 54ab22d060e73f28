"""Driving the animator's own characters (Bind Character): head motion on Rigify-like, Mixamo-like and custom-axis
armatures and on a head object, through the real worker. The head bone's evaluated world rotation is compared
with the engine's pose.json (the conventions written out here independently of the add-on), the character's own
animation keeps playing under PoseTalk's layer, and bad input changes nothing."""

from __future__ import annotations

import math

import bpy
import pytest
from bt_characters import custom_axis_rig, mixamo_like, rigify_like, shapekey_head
from bt_env import snapshot
from mathutils import Matrix, Vector

PROMPT = "nods, then looks to the left"
N_FRAMES = 72


def pose_turn(pitch: float, yaw: float, roll: float) -> Matrix:
    """pose.json's turn for a character facing -Y: roll about the view axis, then pitch, then yaw (world)."""
    rx, ry, rz = (Matrix.Rotation(math.radians(a), 3, axis) for a, axis in ((-pitch, "X"), (-roll, "Y"), (yaw, "Z")))
    return rz @ rx @ ry


def world_rotation(obj: bpy.types.Object, bone: str | None) -> Matrix:
    m = obj.matrix_world if bone is None else obj.matrix_world @ obj.pose.bones[bone].matrix
    return m.to_3x3().normalized()


def rest_rotation(obj: bpy.types.Object, bone: str | None) -> Matrix:
    return (obj.matrix_world @ obj.data.bones[bone].matrix_local).to_3x3().normalized()


def angle(a: Matrix, b: Matrix) -> float:
    return math.degrees((a @ b.transposed()).to_quaternion().angle)


@pytest.fixture
def speech3s(addon, scene_with_speech):
    scene, strip = scene_with_speech
    strip.frame_offset_end = strip.frame_duration - 12 - N_FRAMES
    return scene, strip


RIGS = {
    "rigify": (lambda s: rigify_like(s)[0], {"rig_preset": "RIGIFY"}, "head"),
    "mixamo": (lambda s: mixamo_like(s)[0], {"rig_preset": "MIXAMO"}, "mixamorig:Head"),
    "custom": (
        custom_axis_rig,
        {"rig_preset": "CUSTOM", "head_bone": "Bip Head", "axis_pitch": "-Z", "axis_yaw": "X", "axis_roll": "Y"},
        "Bip Head",
    ),  # fmt: skip
}


@pytest.mark.parametrize("kind", RIGS)
def test_turns_follow_the_pose_conventions(addon, kind):
    """yaw > 0 turns the face to the viewer's right, pitch > 0 raises the chin, roll > 0 tilts the head toward
    the viewer's left; exactly the pose's turn, neck and head together (keys on every frame, no engine)."""
    scene = bpy.context.scene
    build, options, bone = RIGS[kind]
    rig = build(scene)
    assert bpy.ops.posetalk.bind_character(object=rig.name, **options) == {"FINISHED"}
    rest = rest_rotation(rig, bone)
    head = addon.targets.Head(rig)
    rows = [[10, 0, 0, 0, 0, 1], [0, 10, 0, 0, 0, 1], [0, 0, 10, 0, 0, 1], [-7, 23, -12, 0, 0, 1]]
    fcurves = head.ensure_fcurves("test")
    for channel, values in zip(head.channels(), head.dense(rows)):
        fc = fcurves.find(channel.data_path, index=channel.index) or fcurves.new(channel.data_path, index=channel.index)
        for i, v in enumerate(values):
            fc.keyframe_points.insert(100 + i, v)
    front, up = [], []
    for i, row in enumerate(rows):
        scene.frame_set(100 + i)
        turn = world_rotation(rig, bone) @ rest.transposed()  # the head's turn in the world
        front.append(turn @ Vector((0, -1, 0)))
        up.append(turn @ Vector((0, 0, 1)))
        assert angle(turn, pose_turn(*row[:3])) < 1e-3, (kind, row)
        assert head.pose_at(fcurves, 100 + i)[:3] == pytest.approx(row[:3], abs=1e-4)
    assert front[1].x > 0.15 and front[0].z > 0.15 and up[2].x < -0.15  # right, chin up, tilt to the left
    if kind != "custom":  # the neck takes its share (40 %) of every turn
        neck = rig.posetalk.neck_bone
        scene.frame_set(101)
        neck_turn = world_rotation(rig, neck) @ rest_rotation(rig, neck).transposed()
        assert angle(neck_turn, Matrix.Identity(3)) == pytest.approx(4.0, abs=1e-3)


def test_auto_axes_are_the_custom_ones(addon):
    rig = custom_axis_rig(bpy.context.scene)
    assert bpy.ops.posetalk.bind_character(object=rig.name, head_bone="Bip Head") == {"FINISHED"}  # AUTO
    auto = tuple(rig.posetalk.head_axes)
    assert rig.pose.bones["Bip Head"].rotation_mode == "YZX"  # roll's axis, pitch's, yaw's: one channel a curve
    assert bpy.ops.posetalk.bind_character(object=rig.name, head_bone="Bip Head", rig_preset="CUSTOM",
                                           axis_pitch="-Z", axis_yaw="X", axis_roll="Y") == {"FINISHED"}  # fmt: skip
    assert tuple(rig.posetalk.head_axes) == pytest.approx(auto, abs=1e-5)


@pytest.mark.parametrize("kind", RIGS)
def test_generated_motion_on_the_rig(speech3s, addon, engine_started, kind):
    scene, strip = speech3s
    build, options, bone = RIGS[kind]
    rig = build(scene)
    own = rig.animation_data.action if rig.animation_data else None
    assert bpy.ops.posetalk.bind_character(object=rig.name, **options) == {"FINISHED"}
    rest = rest_rotation(rig, bone)
    # the character's own animation, before: it must play the same under PoseTalk's layer
    base_bone = {"rigify": "upper_arm.L", "mixamo": "mixamorig:Hips"}.get(kind)
    first = strip.frame_final_start
    before = {}
    for f in range(first, first + N_FRAMES, 9):
        scene.frame_set(f)
        if base_bone:
            before[f] = rig.pose.bones[base_bone].matrix.copy()
    assert bpy.ops.posetalk.generate_motion(rig=rig.name, prompt=PROMPT, seed=3) == {"FINISHED"}
    pose = addon.runner.current.result["pose"]["frames"]
    layer = rig.animation_data.action
    assert layer != own and layer["posetalk_rig"] == rig.name and rig.animation_data.action_blend_type == "COMBINE"
    assert layer.name.startswith("PoseTalk Take 1 · seed 3")
    head = addon.targets.Head(rig)
    fcurves = head.find_fcurves()
    assert all(kp.type == "GENERATED" for fc in fcurves for kp in fc.keyframe_points)
    keyed, engine = [], []
    for i in range(N_FRAMES):
        scene.frame_set(first + i)
        got = world_rotation(rig, bone)
        keyed.append(angle(got, pose_turn(*head.pose_at(fcurves, first + i)[:3]) @ rest))
        engine.append(angle(got, pose_turn(*pose[i][:3]) @ rest))
        if base_bone and first + i in before:  # the arm still waves, the hips still move
            moved = rig.pose.bones[base_bone].matrix
            assert angle(moved.to_3x3(), before[first + i].to_3x3()) < 1e-3
            assert (moved.translation - before[first + i].translation).length < 1e-5
    print(f"\n{kind}: world rotation vs the keyed pose max {max(keyed):.5f}°, vs pose.json max {max(engine):.3f}°, "
          f"{rig.posetalk.keys_per_second:.2f} keys/s, max deviation {rig.posetalk.max_deviation:.3f}°")  # fmt: skip
    assert max(keyed) <= 0.1  # the retarget adds nothing
    assert max(engine) <= 0.5  # the sparse keys follow pose.json as on the plane (neck and head share 0.4°)
    assert max(max(abs(v) for v in row[:3]) for row in pose[:N_FRAMES]) > 2.0  # it really moves
    assert rig.posetalk.keys_per_second <= 8.0 and rig.posetalk.max_deviation <= 0.5
    if own is not None:  # pushed down, playing as before
        (track,) = [t for t in rig.animation_data.nla_tracks if t.name.startswith("PoseTalk: own animation")]
        assert track.strips[0].action == own and not track.mute


def test_object_head_pins_range_undo(speech3s, addon):
    """A head that is an object (no armature): motion on its own rotation, pins kept, a frame range, undo."""
    scene, strip = speech3s
    blob = shapekey_head(scene)
    blob.location.x = 0.5
    blob.keyframe_insert("location", index=0, frame=1)  # its own animation
    assert bpy.ops.posetalk.bind_character(object=blob.name) == {"FINISHED"}
    assert blob.rotation_mode == "YXZ"  # roll about its -Y (its front), pitch about -X, yaw about Z
    bpy.ops.ed.undo_push(message="bound")
    first = strip.frame_final_start
    assert bpy.ops.posetalk.generate_motion("EXEC_DEFAULT", True, rig="Blob", prompt=PROMPT, seed=1) == {"FINISHED"}
    blob = bpy.data.objects["Blob"]
    generated = snapshot(blob, addon.curves)
    fcurves = addon.targets.Head(blob).find_fcurves()
    yaw = next(fc for fc in fcurves if fc.data_path == "rotation_euler" and fc.array_index == 2)  # Z: yaw
    pin = first + 30
    yaw.keyframe_points.insert(pin, math.radians(15.0), keyframe_type="KEYFRAME")
    assert bpy.ops.posetalk.generate_motion("EXEC_DEFAULT", True, rig="Blob", prompt=PROMPT, seed=2) == {"FINISHED"}
    blob = bpy.data.objects["Blob"]
    yaw = next(
        fc for fc in addon.targets.Head(blob).find_fcurves() if fc.data_path == "rotation_euler" and fc.array_index == 2
    )
    assert math.degrees(yaw.evaluate(pin)) == pytest.approx(15.0, abs=0.05)
    assert abs(math.degrees(yaw.evaluate(pin - 1)) - 15.0) < 3.0  # flows into it
    a, b = first + 40, first + 60
    outside = {f: yaw.evaluate(f) for f in range(first, first + N_FRAMES) if not a - 1 <= f <= b + 1}
    assert bpy.ops.posetalk.generate_motion("EXEC_DEFAULT", True, rig="Blob", prompt="shakes the head", seed=5,
                                            frame_start=a, frame_end=b) == {"FINISHED"}  # fmt: skip
    blob = bpy.data.objects["Blob"]
    yaw = next(
        fc for fc in addon.targets.Head(blob).find_fcurves() if fc.data_path == "rotation_euler" and fc.array_index == 2
    )
    assert all(abs(yaw.evaluate(f) - v) < 1e-5 for f, v in outside.items())
    scene = bpy.context.scene
    scene.frame_set(first + 10)
    assert bpy.data.objects["Blob"].location.x == pytest.approx(0.5)  # its own animation plays below
    bpy.ops.ed.undo()
    bpy.ops.ed.undo()
    assert snapshot(bpy.data.objects["Blob"], addon.curves) == generated
    bpy.ops.ed.undo()
    assert bpy.data.objects["Blob"].animation_data.action.get("posetalk_rig") is None  # its own action again


# bad input -----------------------------------------------------------------------------------------------------
def test_bad_bindings_change_nothing(addon):
    scene = bpy.context.scene
    rig, face = rigify_like(scene)
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    scene.collection.objects.link(cam)
    modes = {pb.name: pb.rotation_mode for pb in rig.pose.bones}
    n_actions = len(bpy.data.actions)
    cases = [
        (dict(object="Cam"), "is a camera"),
        (dict(object="nope"), "no object named 'nope'"),
        (dict(object=rig.name, head_bone="skull"), "has no bone 'skull'"),
        (dict(object=rig.name, head_bone="head", neck_bone="upper_arm.L"), "not a parent of the head bone"),
        (dict(object=face.name, rig_preset="RIGIFY"), "names bones"),
        (dict(object=face.name, head_bone="head"), "not an armature"),
        (dict(object=rig.name, rig_preset="CUSTOM", axis_pitch="X", axis_yaw="-X"), "three different axes"),
        (dict(object=rig.name, mouth="OCULUS", mouth_object=face.name), "maps nothing"),
        (
            dict(object=rig.name, mouth="CUSTOM", mouth_object=face.name, mapping='{"smirk": "mouth_open"}'),
            "no 'smirk' among",
        ),
        (dict(object=rig.name, mouth="ARKIT", mapping='{"jawOpen": "loudness"}'), "unknown source 'loudness'"),
        (dict(object=rig.name, mouth="ARKIT", mapping="{jawOpen"), "not valid JSON"),
        (dict(object=rig.name, mouth="GP_FRAMES", mouth_object=face.name), "not a Grease Pencil object"),
        (dict(object=rig.name, mouth="IMAGES", mouth_object=face.name), "shows no image sequence"),
        (dict(object=rig.name, strip="no such strip"), "no sound strip named"),
    ]
    for kwargs, message in cases:
        with pytest.raises(RuntimeError, match=message):
            bpy.ops.posetalk.bind_character(**kwargs)
        assert not rig.posetalk.is_character and not face.posetalk.is_character, kwargs
    assert {pb.name: pb.rotation_mode for pb in rig.pose.bones} == modes and len(bpy.data.actions) == n_actions
    assert scene.posetalk.rig is None
    # a bound rig without a sound strip, or whose bone went away, is refused by the generators, unchanged
    assert bpy.ops.posetalk.bind_character(object=rig.name, rig_preset="RIGIFY", mouth="ARKIT") == {"FINISHED"}
    with pytest.raises(RuntimeError, match="has no sound strip"):
        bpy.ops.posetalk.generate_motion(rig=rig.name, prompt=PROMPT)
    with pytest.raises(RuntimeError, match="has no sound strip"):
        bpy.ops.posetalk.generate_lipsync(rig=rig.name)
    with pytest.raises(RuntimeError, match="is a character"):
        bpy.ops.posetalk.render_frames(rig=rig.name)
    assert rig.animation_data.action.name == "Wave" and len(bpy.data.actions) == n_actions


def test_character_takes_thin_and_bake(speech3s, addon, engine_started):
    """Takes are PoseTalk layers over the character's own action: switched, thinned, baked into one action."""
    scene, strip = speech3s
    first = strip.frame_final_start
    rig, _face = rigify_like(scene)
    takes = addon.takes
    assert bpy.ops.posetalk.bind_character(object=rig.name, rig_preset="RIGIFY") == {"FINISHED"}
    assert bpy.ops.posetalk.generate_motion(rig=rig.name, prompt=PROMPT, seed=1) == {"FINISHED"}
    take1 = rig.animation_data.action
    assert bpy.ops.posetalk.new_take(rig=rig.name) == {"FINISHED"}
    take2 = rig.animation_data.action
    assert takes.takes_of(rig) == [take1, take2] and take2["posetalk_seed"] == 2
    assert rig.animation_data.action_blend_type == "COMBINE"
    assert bpy.ops.posetalk.switch_take(rig=rig.name, action=take1.name) == {"FINISHED"}
    ad = rig.animation_data
    (base,) = addon.layers.base_tracks(ad)
    assert ad.action == take1 and not base.mute and base.strips[0].action.name == "Wave"
    # Make Editable thins the layer; a pin stays
    yaw = addon.targets.Head(rig).find_fcurves().find('pose.bones["head"].rotation_euler', index=1)
    pin = first + 33
    yaw.keyframe_points.insert(pin, math.radians(9.0), keyframe_type="KEYFRAME")
    keys = sum(len(fc.keyframe_points) for fc in addon.targets.Head(rig).find_fcurves())
    assert bpy.ops.posetalk.make_editable(rig=rig.name, tolerance=2.0) == {"FINISHED"}
    thinned = sum(len(fc.keyframe_points) for fc in addon.targets.Head(rig).find_fcurves())
    assert thinned < keys and math.degrees(yaw.evaluate(pin)) == pytest.approx(9.0, abs=1e-4)
    # Bake: one action that plays what the layer and the own action played together
    frames = range(first - 5, first + N_FRAMES + 5, 4)
    before = {}
    for f in frames:
        scene.frame_set(f)
        before[f] = [rig.pose.bones[b].matrix.copy() for b in ("head", "neck", "upper_arm.L")]
    assert bpy.ops.posetalk.bake_take(rig=rig.name) == {"FINISHED"}
    baked = ad.action
    assert baked.name.startswith("PoseTalk Bake 3 · seed 1") and ad.action_blend_type == "REPLACE" and base.mute
    assert baked in takes.takes_of(rig)
    for f in frames:
        scene.frame_set(f)
        for bone, m in zip(("head", "neck", "upper_arm.L"), before[f]):
            assert angle(rig.pose.bones[bone].matrix.to_3x3(), m.to_3x3()) < 0.45, (f, bone)
    # switching back to a take plays it over the own animation again
    assert bpy.ops.posetalk.switch_take(rig=rig.name, action=take2.name) == {"FINISHED"}
    assert ad.action_blend_type == "COMBINE" and not base.mute
