"""Every add-on setting that feeds the engine has the engine's own default and limits (asked of the real worker's
``schema`` op), on the panel (``Scene.posetalk``) and on every operator that takes it."""

from __future__ import annotations

import time

import bpy
import pytest

OPERATORS = {
    "generate_motion": "pose",
    "new_take": "pose",
    "motion_from_video": "pose",  # its strength and smoothing are the motion's (the capture op's are the same)
    "generate_lipsync": "lips",
    "render_frames": "render",
}


def _engine_schema(client) -> dict:
    job_id = client.submit("schema", {})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        event = client.events.get(timeout=deadline - time.monotonic())
        if event.get("id") == job_id:
            assert event["event"] == "result", event
            return event["ops"]
    pytest.fail("the worker did not answer the schema request")


def _check(prop: bpy.types.Property, param: dict, where: str) -> None:
    kind = prop.type
    if param["type"] in ("float", "int"):
        assert kind == param["type"].upper(), where
        if param["default"] is not None:
            assert prop.default == pytest.approx(param["default"]), where
        if "min" in param:
            assert prop.hard_min == pytest.approx(param["min"]), where
        if "max" in param:
            assert prop.hard_max == pytest.approx(param["max"]), where
    elif param["type"] == "choice":
        assert kind == "ENUM", where
        assert [item.identifier for item in prop.enum_items] == param["choices"], where
        assert prop.default == param["default"], where
    elif param["type"] == "bool":
        assert kind == "BOOLEAN" and prop.default == param["default"], where
    elif param["type"] == "str":  # no length limit in Blender, which would cut a longer text silently
        assert kind == "STRING" and prop.length_max == 0, where
        if param["default"] is not None:
            assert prop.default == param["default"], where
    else:
        pytest.fail(f"{where}: no rule for engine type {param['type']}")


def test_every_setting_has_the_engines_default_and_limits(addon, engine_started):
    schema = _engine_schema(engine_started)
    for name in ("strength", "smoothing"):
        capture, pose = (next(p for p in schema[op] if p["name"] == name) for op in ("capture", "pose"))
        assert capture == pose, name
    scene_props = bpy.types.Scene.bl_rna.properties["posetalk"].fixed_type.properties
    op_props = {name: getattr(bpy.ops.posetalk, name).get_rna_type().properties for name in OPERATORS}
    checked = 0
    for setting, (op, engine_name) in addon.settings.ENGINE_PARAMS.items():
        param = next(p for p in schema[op] if p["name"] == engine_name)
        _check(scene_props[setting], param, f"Scene.posetalk.{setting} vs engine {op}.{engine_name}")
        checked += 1
        name = addon.settings.OPERATOR_NAMES.get(setting, setting)
        for op_name, props in op_props.items():
            if OPERATORS[op_name] == op and name in props.keys():
                _check(props[name], param, f"posetalk.{op_name}({name}) vs engine {op}.{engine_name}")
                checked += 1
    head_props = bpy.types.Object.bl_rna.properties["posetalk"].fixed_type.properties
    lipsync = op_props["generate_lipsync"]
    for setting, (op, engine_name) in addon.settings.HEAD_ENGINE_PARAMS.items():
        param = next(p for p in schema[op] if p["name"] == engine_name)
        _check(head_props[setting], param, f"Object.posetalk.{setting} vs engine {op}.{engine_name}")
        name = addon.settings.OPERATOR_NAMES.get(setting, setting)
        _check(lipsync[name], param, f"posetalk.generate_lipsync({name}) vs engine {op}.{engine_name}")
        checked += 2
    assert checked >= 2 * len(addon.settings.ENGINE_PARAMS)  # the panel and at least one operator each


def test_a_drifted_limit_would_be_caught(addon, engine_started):
    """The comparison itself: a setting whose limit differs from the engine's fails it."""
    schema = _engine_schema(engine_started)
    param = dict(next(p for p in schema["lips"] if p["name"] == "strength"), max=2.0)
    scene_props = bpy.types.Scene.bl_rna.properties["posetalk"].fixed_type.properties
    with pytest.raises(AssertionError):
        _check(scene_props["lips_strength"], param, "lips strength against a drifted engine limit")
