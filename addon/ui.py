"""Sidebar panels (3D View and Sequencer, tab "PoseTalk"): rig, motion, lip sync, render, job progress, engine."""

from __future__ import annotations

import bpy

from . import operators, prefs, rig, runner, takes
from .engine_client import check_engine


def _hint(layout: bpy.types.UILayout, text: str) -> None:
    if text:
        col = layout.column(align=True)
        col.scale_y = 0.8
        col.label(text=text, icon="INFO")


def draw_panel(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    scene = context.scene
    st = scene.posetalk
    head = rig.find_rig(context)

    seq = rig.other_sequencer_scene(context)
    if seq is not None:
        col = layout.column(align=True)
        col.label(text=f"The Sequencer shows scene {seq.name!r};", icon="ERROR")
        col.label(text=f"PoseTalk uses the strips of {scene.name!r}")

    box = layout.box()
    box.label(text="Talking Head", icon="USER")
    box.prop(st, "image_path")
    box.operator("posetalk.create_rig", icon="IMAGE_DATA")
    box.prop(st, "rig")
    if head is not None:
        if scene.sequence_editor is not None:
            coll = "strips" if hasattr(scene.sequence_editor, "strips") else "sequences"
            box.prop_search(head.posetalk, "strip", scene.sequence_editor, coll + "_all", icon="SOUND")
        else:
            box.prop(head.posetalk, "strip", icon="SOUND")
        box.prop(head.posetalk, "face_height")

    job = runner.current
    if job is not None and not job.finished:
        box = layout.box()
        box.label(text=f"{job.label}: {job.message}", icon="TIME")
        row = box.row(align=True)
        if hasattr(row, "progress"):
            row.progress(factor=job.fraction, type="BAR", text=f"{job.fraction * 100:.0f} %")
        row.operator("posetalk.cancel", text="", icon="CANCEL")

    box = layout.box()
    box.label(text="Motion", icon="ORIENTATION_GIMBAL")
    box.prop(st, "prompt", text="")
    row = box.row(align=True)
    row.prop(st, "backend", text="")
    sub = row.row(align=True)
    sub.active = st.backend != "procedural"
    sub.prop(st, "guidance")
    row = box.row(align=True)
    row.prop(st, "seed")
    row.prop(st, "strength")
    box.prop(st, "smoothing")
    col = box.column(align=True)
    col.label(text="Strength per axis group")
    row = col.row(align=True)
    row.prop(st, "strength_rotation")
    row.prop(st, "strength_translation")
    row.prop(st, "strength_scale")
    box.prop(st, "time_offset_ms")
    row = box.row(align=True)
    row.prop(st, "keep_keys")
    row.prop(st, "use_range")
    if st.use_range:
        row = box.row(align=True)
        row.prop(st, "frame_start")
        row.prop(st, "frame_end")
    row = box.row(align=True)
    row.operator("posetalk.generate_motion", icon="PLAY")
    var = row.operator("posetalk.generate_motion", text="Variation", icon="FILE_REFRESH")
    var.seed = st.seed + 1
    if head is not None:
        col = box.column(align=True)
        row = col.row(align=True)
        row.operator("posetalk.new_take", icon="DUPLICATE")
        action = takes.current_action(head)
        row.operator_menu_enum("posetalk.switch_take", "take", text=takes.describe(action), icon="ACTION")
        row = col.row(align=True)
        row.operator("posetalk.make_editable", icon="IPO_BEZIER")
        row.operator("posetalk.bake_take", icon="KEYFRAME_HLT")
    if head is not None and head.posetalk.keys_per_second:
        box.label(text=f"{head.posetalk.keys_per_second:.1f} keys/s, max deviation {head.posetalk.max_deviation:.2f}°")
    _hint(box, operators.why_not(context))

    box = layout.box()
    box.label(text="Lip Sync", icon="SPEAKER")
    box.prop(st, "lips_strength")
    box.prop(st, "lips_time_offset_ms")
    box.operator("posetalk.generate_lipsync", icon="PLAY")
    if head is not None:
        col = box.column(align=True)
        for channel in ("mouth_open", "mouth_wide", "mouth_round", "lips_closed"):
            if channel in head.keys():
                col.prop(head, f'["{channel}"]', slider=True)

    box = layout.box()
    box.label(text="Render", icon="RENDER_ANIMATION")
    row = box.row(align=True)
    row.prop(st, "render_size")
    row.prop(st, "blinks")
    box.operator("posetalk.render_frames", icon="SEQ_SEQUENCER")

    box = layout.box()
    reason = check_engine(prefs.engine_python(), prefs.engine_root())
    if reason:
        box.label(text=reason, icon="ERROR")
    else:
        state = "running" if runner.engine_running() else "idle (starts on the first job)"
        box.label(text=f"Engine: {state}", icon="SYSTEM")
    box.operator("posetalk.stop_engine", icon="CANCEL")


class VIEW3D_PT_posetalk(bpy.types.Panel):
    bl_label = "PoseTalk"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "PoseTalk"

    def draw(self, context: bpy.types.Context) -> None:
        draw_panel(self.layout, context)


class SEQUENCER_PT_posetalk(bpy.types.Panel):
    bl_label = "PoseTalk"
    bl_space_type = "SEQUENCE_EDITOR"
    bl_region_type = "UI"
    bl_category = "PoseTalk"

    def draw(self, context: bpy.types.Context) -> None:
        draw_panel(self.layout, context)


classes = (VIEW3D_PT_posetalk, SEQUENCER_PT_posetalk)
