"""A character's lip sync through the real worker: shape keys by preset (ARKit, Oculus) and by a custom table,
drawn 2D mouths (Grease Pencil drawings and layers, an image sequence), Rhubarb actions as NLA strips; pins,
undo, Bake; a linked character with a library override across save and reload; the headless batch script's
character mode. Expected values are computed here from the engine's lips.json."""

from __future__ import annotations

import json
import math

import bpy
import pytest
from bt_characters import (
    RHUBARB_SHAPES,
    gp_mouth_frames,
    gp_mouth_layers,
    image_mouth,
    mixamo_like,
    rigify_like,
    shapekey_head,
)
from bt_env import compat, needs_sound, strips_of
from test_addon_extension import _run_batch

N_FRAMES = 72
TOL = 0.05  # the mouth's key reduction tolerance
CUSTOM = {"Open": "mouth_open", "Wide": {"mouth_wide": 1.0, "B": 0.2}, "Round": "mouth_round", "Closed": "lips_closed"}


@pytest.fixture
def speech3s(addon, scene_with_speech):
    scene, strip = scene_with_speech
    strip.frame_offset_end = strip.frame_duration - 12 - N_FRAMES
    return scene, strip


def source(doc: dict, name: str, i: int) -> float:
    if name in doc["channels"]:
        return doc["frames"][i][doc["channels"].index(name)]
    block = doc["viseme_weights"]
    return block["frames"][i][block["shapes"].index(name)]


def expected(obj: bpy.types.Object, doc: dict, n: int) -> dict[str, list[float]]:
    """Each target's value per frame from the character's table: the sum of factor × source, in 0..1."""
    out: dict[str, list[float]] = {}
    for row in obj.posetalk.mapping:
        acc = out.setdefault(row.target, [0.0] * n)
        for i in range(n):
            acc[i] += row.factor * source(doc, row.source, i)
    return {t: [min(1.0, max(0.0, v)) for v in values] for t, values in out.items()}


def check_shape_keys(key: bpy.types.Key, want: dict[str, list[float]], first: int, base: dict | None = None) -> float:
    """Evaluated shape-key values against the table (plus what the character's own action adds); max error."""
    scene = bpy.context.scene
    worst = 0.0
    for i in range(N_FRAMES):
        scene.frame_set(first + i)
        for name, values in want.items():
            worst = max(worst, abs(key.key_blocks[name].value - values[i] - (base or {}).get(name, 0.0)))
    return worst


@pytest.mark.parametrize("kind", ["arkit", "oculus", "rhubarb"])
def test_shape_key_presets(speech3s, addon, engine_started, kind):
    """ARKit on a Rigify-like face, Oculus on a Mixamo-like one, Rhubarb (one key per shape) on a shape-key-only
    head: each key is the table applied to the engine's channels and viseme weights."""
    scene, strip = speech3s
    first = strip.frame_final_start
    if kind == "rhubarb":  # names as a Rhubarb user spells them: mouth_A ... mouth_X
        rig = face = shapekey_head(scene, keys=[f"mouth_{s}" for s in RHUBARB_SHAPES])
    else:
        rig, face = (rigify_like if kind == "arkit" else mixamo_like)(scene)
    key = face.data.shape_keys
    base = {}
    if kind == "arkit":  # the character's own shape-key animation keeps playing under the layer
        key.animation_data_create().action = bpy.data.actions.new("smirk")
        key.key_blocks["mouthSmile_L"].value = 0.3
        key.key_blocks["mouthSmile_L"].keyframe_insert("value", frame=1)
        base = {"mouthSmile_L": 0.3}
    preset = kind.upper()
    assert bpy.ops.posetalk.bind_character(object=rig.name, mouth=preset, mouth_object=face.name) == {"FINISHED"}
    targets = {row.target for row in rig.posetalk.mapping}
    assert targets == (set(key.key_blocks.keys()) - {"Basis"} if kind != "arkit" else
                       {"jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthSmile_L", "mouthSmile_R",
                        "mouthStretchLeft", "mouthStretchRight", "eyeBlink_L", "eyeBlink_R"})  # fmt: skip
    assert bpy.ops.posetalk.generate_lipsync(rig=rig.name) == {"FINISHED"}
    doc = addon.runner.current.result["lips"]
    assert ("blink" in doc["channels"]) == (kind == "arkit")  # asked for only when the table uses it
    want = expected(rig, doc, N_FRAMES)
    worst = check_shape_keys(key, want, first, base)
    print(f"\n{kind}: shape keys vs the mapped channels: max {worst:.4f}")
    assert worst <= TOL + 1e-4
    fcurves = addon.layers.layer_fcurves(key, rig)
    for fc in fcurves:  # at every key the curve is exactly the mapped value
        name = fc.data_path.split('"')[1]
        for kp in fc.keyframe_points:
            i = round(kp.co.x) - first
            assert kp.type == "GENERATED" and kp.co.y == pytest.approx(want[name][i], abs=1e-4)
    moving = [t for t, v in want.items() if max(v) > 0.3]
    assert len(moving) >= 3, moving
    if kind == "arkit":
        assert max(want["eyeBlink_L"]) > 0.9  # a blink in three seconds
        assert key.animation_data.nla_tracks[0].strips[0].action.name == "smirk"


def test_custom_table_pins_undo_bake(speech3s, addon, engine_started):
    """A shape-key-only head: motion on the object, a custom table, pins kept, the table edited in place, a
    renamed key refused, undo, and Bake merging the layers into one action each (values unchanged)."""
    scene, strip = speech3s
    first = strip.frame_final_start
    blob = shapekey_head(scene)
    assert bpy.ops.posetalk.bind_character(object="Blob", mouth="CUSTOM", mapping=json.dumps(CUSTOM)) == {"FINISHED"}
    assert [(r.target, r.source, r.factor) for r in blob.posetalk.mapping] == [
        ("Open", "mouth_open", 1.0), ("Wide", "mouth_wide", 1.0), ("Wide", "B", pytest.approx(0.2)),
        ("Round", "mouth_round", 1.0), ("Closed", "lips_closed", 1.0)]  # fmt: skip
    assert bpy.ops.posetalk.generate_motion(rig="Blob", prompt="shakes the head", seed=4) == {"FINISHED"}
    assert bpy.ops.posetalk.generate_lipsync(rig="Blob") == {"FINISHED"}
    key = blob.data.shape_keys
    doc = addon.runner.current.result["lips"]
    assert check_shape_keys(key, expected(blob, doc, N_FRAMES), first) <= TOL + 1e-4
    # a pin on a shape key survives a regeneration
    fcurves = addon.layers.layer_fcurves(key, blob)
    open_fc = fcurves.find('key_blocks["Open"].value')
    pin = first + 20
    open_fc.keyframe_points.insert(pin, 0.9, keyframe_type="KEYFRAME")
    # the table is edited in the panel: round lips drive "Round" twice as much
    row = next(r for r in blob.posetalk.mapping if r.target == "Round")
    row.factor = 2.0
    bpy.ops.ed.undo_push(message="edits")
    assert bpy.ops.posetalk.generate_lipsync("EXEC_DEFAULT", True, rig="Blob", strength=0.7) == {"FINISHED"}
    blob = bpy.data.objects["Blob"]
    key = blob.data.shape_keys
    open_fc = addon.layers.layer_fcurves(key, blob).find('key_blocks["Open"].value')
    assert open_fc.evaluate(pin) == pytest.approx(0.9, abs=1e-6)
    assert [kp.co.x for kp in open_fc.keyframe_points if kp.type != "GENERATED"] == [pin]
    doc = addon.runner.current.result["lips"]
    want = expected(blob, doc, N_FRAMES)
    scene.frame_set(first + 40)
    assert key.key_blocks["Round"].value == pytest.approx(want["Round"][40], abs=TOL + 1e-4)
    assert doc["meta"]["strength"] == pytest.approx(0.7)
    bpy.ops.ed.undo()
    scene, blob = bpy.context.scene, bpy.data.objects["Blob"]
    assert blob.posetalk.mapping[3].factor == 2.0  # the edits are back, the regeneration is undone
    # a key the table names is renamed: refused, nothing changed
    blob.data.shape_keys.key_blocks["Open"].name = "Jaw"
    with pytest.raises(RuntimeError, match="no 'Open' among the shape keys of Blob"):
        bpy.ops.posetalk.generate_lipsync(rig="Blob")
    blob.data.shape_keys.key_blocks["Jaw"].name = "Open"
    # bake: one plain action on the object and one on its shape keys, playing exactly as before
    samples = {}
    for f in range(first, first + N_FRAMES, 5):
        scene.frame_set(f)
        samples[f] = (tuple(blob.rotation_euler), tuple(kb.value for kb in blob.data.shape_keys.key_blocks))
    assert bpy.ops.posetalk.bake_take(rig="Blob") == {"FINISHED"}
    for data in (blob, blob.data.shape_keys):
        ad = data.animation_data
        assert ad.action.get("posetalk_baked") and ad.action_blend_type == "REPLACE"
        fcs = compat.action_fcurves(ad.action, compat.action_slot(ad))
        assert all(kp.type == "KEYFRAME" for fc in fcs for kp in fc.keyframe_points)
    for f, (rot, values) in samples.items():
        scene.frame_set(f)
        assert tuple(blob.rotation_euler) == pytest.approx(rot, abs=math.radians(0.4))
        assert tuple(kb.value for kb in blob.data.shape_keys.key_blocks) == pytest.approx(values, abs=TOL + 1e-4)


def shown_runs(values: list[float]) -> list[int]:
    runs, start = [], 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            runs.append(i - start)
            start = i
    return runs


def dominant(doc: dict, i: int) -> str:
    block = doc["viseme_weights"]
    row = block["frames"][i]
    return block["shapes"][max(range(len(row)), key=row.__getitem__)]


@pytest.mark.parametrize("hold", [2, 3])
def test_drawn_mouths(speech3s, addon, engine_started, tmp_path, hold):
    """Grease Pencil drawings (Time Offset), Grease Pencil layers (opacity) and an image sequence show the
    same shape per frame, stepped, each held at least ``hold`` frames; a pin stays; Bake keeps the steps."""
    scene, strip = speech3s
    first = strip.frame_final_start
    toon, layers_obj, plane = gp_mouth_frames(scene), gp_mouth_layers(scene), image_mouth(scene, str(tmp_path))
    for obj, mode in ((toon, "GP_FRAMES"), (layers_obj, "GP_LAYERS"), (plane, "IMAGES")):
        assert bpy.ops.posetalk.bind_character(object=obj.name, mouth=mode, hold_frames=hold) == {"FINISHED"}
        assert bpy.ops.posetalk.generate_lipsync(rig=obj.name) == {"FINISHED"}
    doc = addon.runner.current.result["lips"]
    offset = addon.layers.layer_fcurves(toon, toon).find('modifiers["PoseTalk Mouth"].offset')
    image = addon.layers.layer_fcurves(plane.material_slots[0].material.node_tree, plane)[0]
    assert {kp.interpolation for kp in offset.keyframe_points} == {"CONSTANT"}
    drawings, pictures, layer_shown = [], [], []
    for i in range(N_FRAMES):
        scene.frame_set(first + i)
        drawings.append(offset.evaluate(first + i))
        pictures.append(image.evaluate(first + i))
        layer_shown.append([la.name for la in layers_obj.data.layers if la.opacity > 0.5])
    assert all(len(shown) == 1 for shown in layer_shown)  # one layer at a time
    shapes = [RHUBARB_SHAPES[int(d) - 1] for d in drawings]  # drawing k is shape k
    assert [s[0][-1] for s in layer_shown] == shapes and [p + 1 for p in pictures] == drawings
    runs = shown_runs(drawings)
    assert min(runs[:-1]) >= hold and len(runs) >= 8, runs
    agree = sum(shapes[i] == dominant(doc, i) for i in range(N_FRAMES)) / N_FRAMES
    print(f"\nhold {hold}: {len(runs)} drawings, shape = the frame's heaviest viseme on {agree:.0%} of the frames")
    assert agree >= 0.7
    # the evaluated Grease Pencil shows that drawing (the modifier really switches it)
    i = next(k for k in range(N_FRAMES) if drawings[k] != 1)
    scene.frame_set(first + i)
    shown = toon.evaluated_get(bpy.context.evaluated_depsgraph_get()).data.layers["mouth"].current_frame().drawing
    own = next(f for f in toon.data.layers["mouth"].frames if f.frame_number == int(drawings[i])).drawing
    assert shown.strokes[0].points[0].position.x == pytest.approx(own.strokes[0].points[0].position.x)
    # a pin: the animator shows drawing 4 from frame first + 10; it stays through a regeneration
    offset.keyframe_points.insert(first + 10, 4.0, keyframe_type="KEYFRAME")
    assert bpy.ops.posetalk.generate_lipsync(rig=toon.name) == {"FINISHED"}
    assert offset.evaluate(first + 10) == 4.0 and any(kp.type == "KEYFRAME" for kp in offset.keyframe_points)
    before = [offset.evaluate(first + i) for i in range(N_FRAMES)]
    assert bpy.ops.posetalk.bake_take(rig=toon.name) == {"FINISHED"}
    ad = toon.animation_data
    baked = compat.action_fcurves(ad.action, compat.action_slot(ad)).find('modifiers["PoseTalk Mouth"].offset')
    assert [baked.evaluate(first + i) for i in range(N_FRAMES)] == before
    assert {kp.interpolation for kp in baked.keyframe_points} == {"CONSTANT"}


def test_rhubarb_actions(speech3s, addon, engine_started):
    """One action per mouth shape (shape-key poses), placed as NLA strips on the mouth track; Bake keys them."""
    scene, strip = speech3s
    first = strip.frame_final_start
    blob = shapekey_head(scene, keys=[f"pose_{s}" for s in RHUBARB_SHAPES])
    key = blob.data.shape_keys
    ad = key.animation_data_create()
    for shape in RHUBARB_SHAPES:
        ad.action = bpy.data.actions.new(f"mouth_{shape}")
        for kb in key.key_blocks[1:]:
            kb.value = 1.0 if kb.name == f"pose_{shape}" else 0.0
            kb.keyframe_insert("value", frame=1)
        ad.action = None
    assert bpy.ops.posetalk.bind_character(object="Blob", mouth="ACTIONS") == {"FINISHED"}
    assert {r.target for r in blob.posetalk.mapping} == {f"mouth_{s}" for s in RHUBARB_SHAPES}
    assert bpy.ops.posetalk.generate_lipsync(rig="Blob") == {"FINISHED"}
    track = ad.nla_tracks["PoseTalk Mouth"]
    strips = sorted(track.strips, key=lambda s: s.frame_start)
    assert strips[0].frame_start == first and strips[-1].frame_end == first + N_FRAMES
    assert all(a.frame_end == b.frame_start for a, b in zip(strips, strips[1:]))  # back to back
    for s in strips[:6]:
        scene.frame_set(round(s.frame_start + (s.frame_end - s.frame_start) / 2))
        shape = s.action.name[-1]
        assert key.key_blocks[f"pose_{shape}"].value == pytest.approx(1.0)
        assert sum(kb.value for kb in key.key_blocks[1:]) == pytest.approx(1.0)
    assert bpy.ops.posetalk.bake_take(rig="Blob") == {"FINISHED"}
    assert track.mute and key.animation_data.action.get("posetalk_baked")
    mid = round((strips[3].frame_start + strips[3].frame_end) / 2)
    scene.frame_set(mid)
    assert key.key_blocks[f"pose_{strips[3].action.name[-1]}"].value == pytest.approx(1.0)


# linked characters, headless -----------------------------------------------------------------------------------
@needs_sound
def test_linked_character_keeps_its_keys(addon, engine_started, speech_wav, tmp_path):
    scene = bpy.context.scene
    col = bpy.data.collections.new("Character")
    scene.collection.children.link(col)
    rig, face = rigify_like(scene)
    for obj in (rig, face):
        scene.collection.objects.unlink(obj)
        col.objects.link(obj)
    lib = tmp_path / "character.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(lib))
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = 24
    with bpy.data.libraries.load(str(lib), link=True) as (_src, dst):
        dst.collections = ["Character"]
    linked = dst.collections[0]
    empty = bpy.data.objects.new("Character", None)
    empty.instance_type, empty.instance_collection = "COLLECTION", linked
    scene.collection.objects.link(empty)
    linked.override_hierarchy_create(scene, bpy.context.view_layer, do_fully_editable=True)
    rig = next(o for o in bpy.data.objects if o.override_library and o.type == "ARMATURE")
    face = next(o for o in bpy.data.objects if o.override_library and o.type == "MESH")
    strip = strips_of(scene).new_sound("speech", str(speech_wav), 1, 1)
    strip.frame_offset_end = strip.frame_duration - N_FRAMES
    scene.posetalk.character = next(o for o in linked.objects if o.type == "ARMATURE")  # the library's own
    with pytest.raises(RuntimeError, match="linked from a library"):
        bpy.ops.posetalk.bind_character()
    assert bpy.ops.posetalk.bind_character(object=rig.name, mouth="ARKIT", mouth_object=face.name) == {"FINISHED"}
    assert bpy.ops.posetalk.generate_motion(rig=rig.name, prompt="nods", seed=2) == {"FINISHED"}
    assert bpy.ops.posetalk.generate_lipsync(rig=rig.name) == {"FINISHED"}
    rig.posetalk.dialogue, rig.posetalk.language = "The quick brown fox", "en-us"  # kept on the override too
    table = [(r.target, r.source) for r in rig.posetalk.mapping]
    scene.frame_set(30)
    pose = rig.pose.bones["head"].matrix.copy()
    jaw = face.data.shape_keys.key_blocks["jawOpen"].value
    shot = tmp_path / "shot.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(shot))
    bpy.ops.wm.open_mainfile(filepath=str(shot))
    rig = next(o for o in bpy.data.objects if o.override_library and o.type == "ARMATURE")
    face = next(o for o in bpy.data.objects if o.override_library and o.type == "MESH")
    assert rig.posetalk.is_character and rig.posetalk.mouth == "ARKIT" and len(rig.posetalk.mapping) == 11
    assert [(r.target, r.source) for r in rig.posetalk.mapping] == table
    assert rig.posetalk.head_bone == "head" and rig.posetalk.mouth_object == face
    assert rig.posetalk.dialogue == "The quick brown fox" and rig.posetalk.language == "en-us"
    assert rig.animation_data.action["posetalk_rig"] == rig.name
    bpy.context.scene.frame_set(30)
    turned = rig.pose.bones["head"].matrix.to_3x3() @ pose.to_3x3().transposed()
    assert math.degrees(turned.to_quaternion().angle) < 1e-3
    assert face.data.shape_keys.key_blocks["jawOpen"].value == pytest.approx(jaw, abs=1e-6)
    assert bpy.ops.posetalk.generate_motion(rig=rig.name, prompt="nods", seed=3) == {"FINISHED"}  # still drivable


def test_bound_character_speaks_its_dialogue(addon, engine_started, scene_with_speech, tmp_path):
    """A bound character has the Dialogue and Language of a talking head: taken from the text strips, aligned
    by Generate Lip Sync into its shape keys, a wrong language refused with nothing changed, kept in the .blend."""
    scene, strip = scene_with_speech
    first = strip.frame_final_start
    blob = shapekey_head(scene)
    mapping = json.dumps(CUSTOM)
    assert bpy.ops.posetalk.bind_character(object=blob.name, mouth="CUSTOM", mapping=mapping) == {"FINISHED"}
    a, b = strip.frame_final_start, strip.frame_final_end
    compat.new_text_strip(scene, "line", "The quick brown fox jumps over the lazy dog.", 5, a - 5, a + 40)
    compat.new_text_strip(scene, "line 2", "Then it stops, looks around, and runs far away.", 6, a + 40, b)
    assert bpy.ops.posetalk.dialogue_from_strips(rig=blob.name) == {"FINISHED"}
    assert blob.posetalk.dialogue.startswith("The quick brown fox") and blob.posetalk.dialogue.endswith("far away.")
    assert bpy.ops.posetalk.choose_language(rig=blob.name, language="en-us") == {"FINISHED"}
    assert blob.posetalk.language == "en-us"
    assert bpy.ops.posetalk.generate_lipsync(rig=blob.name) == {"FINISHED"}
    doc = addon.runner.current.result["lips"]
    meta = doc["meta"]
    assert meta["phones"] == "transcript" and meta["language"] == "en-us" and meta["alignment"] == "good"
    key = blob.data.shape_keys
    assert check_shape_keys(key, expected(blob, doc, N_FRAMES), first) <= TOL + 1e-4
    keyed = [
        (fc.data_path, [tuple(kp.co) for kp in fc.keyframe_points]) for fc in addon.layers.layer_fcurves(key, blob)
    ]
    blob.posetalk.language = "xx-nope"  # typed by hand: refused by the engine, nothing changes
    with pytest.raises(RuntimeError, match="unknown language 'xx-nope'"):
        bpy.ops.posetalk.generate_lipsync(rig=blob.name)
    again = [
        (fc.data_path, [tuple(kp.co) for kp in fc.keyframe_points]) for fc in addon.layers.layer_fcurves(key, blob)
    ]
    assert again == keyed
    blob.posetalk.language = "en-us"
    path = tmp_path / "dialogue.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))
    blob = bpy.data.objects["Blob"]
    assert blob.posetalk.is_character and blob.posetalk.dialogue.endswith("far away.")
    assert blob.posetalk.language == "en-us"


@needs_sound
def test_headless_batch_character_mode(installed, engine_started, speech_wav, tmp_path):
    bpy.ops.wm.read_homefile(use_empty=True)
    rig, face = mixamo_like(bpy.context.scene)
    rig_name, face_name = rig.name, face.name
    character = tmp_path / "character.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(character))
    out = tmp_path / "shot.blend"
    args = ["--blend", str(character), "--character", rig_name, "--rig-preset", "MIXAMO", "--mouth", "OCULUS",
            "--audio", str(speech_wav), "--prompt", "shakes the head", "--lips", "--bake", "--out", str(out)]  # fmt: skip
    done = _run_batch(args, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "keys/s" in done.stdout
    bpy.ops.wm.open_mainfile(filepath=str(out))
    rig = bpy.data.objects[rig_name]
    assert rig.posetalk.is_character and rig.animation_data.action.get("posetalk_baked")
    key = bpy.data.objects[face_name].data.shape_keys
    assert key.animation_data.action.get("posetalk_baked")
    failed = _run_batch(["--blend", str(character), "--character", rig_name, "--head-bone", "skull",
                         "--audio", str(speech_wav), "--out", str(tmp_path / "x.blend")], tmp_path)  # fmt: skip
    assert failed.returncode == 1 and "has no bone 'skull'" in failed.stderr
    assert not (tmp_path / "x.blend").exists()
