"""Sidebar panels (tab "PoseTalk") in the 3D View and in the Sequencer: a main panel with sub-panels for the
talking head, binding a character, the running job, motion, takes, lip sync, render and the engine.

Each panel is written once (a mixin with its ``draw``) and registered for both editors.
"""

from __future__ import annotations

import bpy

from . import mouth, prefs, runner, sequencer, takes, targets
from .compat import ALL_STRIPS
from .curves import MOUTH_CHANNELS
from .engine_client import check_engine
from .operators.common import why_not

SPACES = (("VIEW_3D", "VIEW3D"), ("SEQUENCE_EDITOR", "SEQUENCER"))


def _hint(layout: bpy.types.UILayout, text: str) -> None:
    if text:
        col = layout.column(align=True)
        col.scale_y = 0.8
        col.label(text=text, icon="INFO")


class MainPanel:
    bl_label = "PoseTalk"
    bl_region_type = "UI"
    bl_category = "PoseTalk"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        seq = sequencer.other_sequencer_scene(context)
        if seq is not None:
            col = layout.column(align=True)
            col.label(text=f"The Sequencer shows scene {seq.name!r};", icon="ERROR")
            col.label(text=f"PoseTalk uses the strips of {context.scene.name!r}")
        job = runner.current
        if job is not None and not job.finished:
            box = layout.box()
            box.label(text=f"{job.label}: {job.message}", icon="TIME")
            row = box.row(align=True)
            row.progress(factor=job.fraction, type="BAR", text=f"{job.fraction * 100:.0f} %")
            row.operator("posetalk.cancel", text="", icon="CANCEL")


class HeadPanel:
    bl_label = "Talking Head"
    bl_icon = "USER"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        scene = context.scene
        st = scene.posetalk
        layout.prop(st, "image_path")
        layout.operator("posetalk.create_rig", icon="IMAGE_DATA")
        layout.prop(st, "rig")
        head = targets.find_target(context)
        if head is None:
            return
        if scene.sequence_editor is not None:
            layout.prop_search(head.posetalk, "strip", scene.sequence_editor, ALL_STRIPS, icon="SOUND")
        else:
            layout.prop(head.posetalk, "strip", icon="SOUND")
        layout.prop(head.posetalk, "face_height")


class CharacterPanel:
    bl_label = "Character"
    bl_icon = "ARMATURE_DATA"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        st = context.scene.posetalk
        layout.prop(st, "character")
        obj = st.character or context.active_object
        col = layout.column(align=True)
        col.prop(st, "rig_preset")
        if obj is not None and obj.type == "ARMATURE":
            col.prop_search(st, "head_bone", obj.data, "bones", icon="BONE_DATA")
            col.prop_search(st, "neck_bone", obj.data, "bones", icon="BONE_DATA")
            sub = col.row()
            sub.active = bool(st.neck_bone)
            sub.prop(st, "neck_share", slider=True)
        if st.rig_preset == "CUSTOM":
            row = layout.row(align=True)
            for name in ("axis_pitch", "axis_yaw", "axis_roll"):
                row.prop(st, name, text="")
        row = layout.row(align=True)
        row.prop(st, "use_location", toggle=True)
        row.prop(st, "use_scale", toggle=True)
        col = layout.column(align=True)
        col.prop(st, "mouth")
        if st.mouth != "NONE":
            col.prop(st, "mouth_object")
        if st.mouth == "GP_FRAMES":
            col.prop(st, "mouth_layer")
        if st.mouth in mouth.STEPPED_MODES:
            col.prop(st, "hold_frames")
        layout.operator("posetalk.bind_character", icon="LINKED")
        head = targets.find_target(context)
        if not targets.is_character(head) or head.posetalk.mouth == "NONE":
            return
        box = layout.box()
        box.label(
            text=f"{head.name}: {head.posetalk.mouth.replace('_', ' ').title()} mouth table", icon="SHAPEKEY_DATA"
        )
        row = box.row()
        row.template_list("POSETALK_UL_mapping", "", head.posetalk, "mapping", head.posetalk, "mapping_index", rows=4)
        ops = row.column(align=True)
        ops.operator("posetalk.mapping_add", text="", icon="ADD")
        ops.operator("posetalk.mapping_remove", text="", icon="REMOVE")


class POSETALK_UL_mapping(bpy.types.UIList):
    """One row of a character's mouth table: target = factor × source."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0) -> None:  # noqa: ANN001
        row = layout.row(align=True)
        row.prop(item, "target", text="", emboss=False)
        row.prop(item, "factor", text="")
        row.prop(item, "source", text="")


class MotionPanel:
    bl_label = "Motion"
    bl_icon = "ORIENTATION_GIMBAL"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        st = context.scene.posetalk
        head = targets.find_target(context)
        layout.prop(st, "prompt", text="")
        row = layout.row(align=True)
        row.prop(st, "backend", text="")
        sub = row.row(align=True)
        backend = runner.default_backend() if st.backend == "auto" else st.backend
        learned = backend != "procedural"  # the keyword model has no prompt weight and settles pauses by its rules
        sub.active = learned
        sub.prop(st, "guidance")
        sub = layout.row(align=True)
        sub.active = learned
        sub.prop(st, "pause_calm")
        row = layout.row(align=True)
        row.prop(st, "seed")
        row.prop(st, "strength")
        layout.prop(st, "smoothing")
        col = layout.column(align=True)
        col.label(text="Strength per axis group")
        row = col.row(align=True)
        row.prop(st, "strength_rotation")
        row.prop(st, "strength_translation")
        row.prop(st, "strength_scale")
        layout.prop(st, "time_offset_ms")
        row = layout.row(align=True)
        row.prop(st, "keep_keys")
        row.prop(st, "use_range")
        if st.use_range:
            row = layout.row(align=True)
            row.prop(st, "frame_start")
            row.prop(st, "frame_end")
        row = layout.row(align=True)
        row.operator("posetalk.generate_motion", icon="PLAY")
        var = row.operator("posetalk.generate_motion", text="Variation", icon="FILE_REFRESH")
        var.seed = st.seed + 1
        if head is not None and head.posetalk.keys_per_second:
            layout.label(
                text=f"{head.posetalk.keys_per_second:.1f} keys/s, max deviation {head.posetalk.max_deviation:.2f}°"
            )
        _hint(layout, why_not(context))


class VideoPanel:
    bl_label = "Motion from Video"
    bl_icon = "FILE_MOVIE"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        st = context.scene.posetalk
        if context.scene.sequence_editor is not None:
            layout.prop_search(st, "video_strip", context.scene.sequence_editor, ALL_STRIPS, icon="FILE_MOVIE")
        else:
            layout.prop(st, "video_strip", icon="FILE_MOVIE")
        row = layout.row()
        row.active = not st.video_strip
        row.prop(st, "video_path")
        layout.prop(st, "video_channels")
        row = layout.row(align=True)
        row.prop(st, "strength")
        row.prop(st, "smoothing")
        row = layout.row(align=True)
        row.prop(st, "keep_keys")
        row.prop(st, "video_new_take")
        layout.operator("posetalk.motion_from_video", icon="FILE_MOVIE")
        _hint(layout, why_not(context, need_strip=False))


class TakesPanel:
    bl_label = "Takes"
    bl_icon = "ACTION"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return targets.find_target(context) is not None

    def draw(self, context: bpy.types.Context) -> None:
        head = targets.find_target(context)
        col = self.layout.column(align=True)
        row = col.row(align=True)
        row.operator("posetalk.new_take", icon="DUPLICATE")
        row.operator_menu_enum("posetalk.switch_take", "take", text=takes.describe(takes.current_action(head)))
        row = col.row(align=True)
        row.operator("posetalk.make_editable", icon="IPO_BEZIER")
        row.operator("posetalk.bake_take", icon="KEYFRAME_HLT")
        col.operator("posetalk.load_motion", icon="IMPORT")


class LipSyncPanel:
    bl_label = "Lip Sync"
    bl_icon = "SPEAKER"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        st = context.scene.posetalk
        head = targets.find_target(context)
        if head is not None:  # the plane or a bound character
            col = layout.column(align=True)
            col.prop(head.posetalk, "dialogue", text="", icon="TEXT", placeholder="Dialogue (words of the line)")
            row = col.row(align=True)
            row.prop(head.posetalk, "language")
            row.operator("posetalk.choose_language", text="", icon="WORLD")
            row = col.row(align=True)
            row.operator("posetalk.dialogue_from_strips", icon="FONT_DATA")
            row.operator("posetalk.dialogue_from_file", icon="FILE_TEXT")
        layout.prop(st, "lips_strength")
        layout.prop(st, "lips_time_offset_ms")
        layout.operator("posetalk.generate_lipsync", icon="PLAY")
        if head is not None and not targets.is_character(head):
            col = layout.column(align=True)
            for channel in MOUTH_CHANNELS:
                if channel in head.keys():
                    col.prop(head, f'["{channel}"]', slider=True)
        elif head is not None:
            layout.label(text=f"{head.name}: {head.posetalk.mouth.replace('_', ' ').title()} (see Character)")


class RenderPanel:
    bl_label = "Render"
    bl_icon = "RENDER_ANIMATION"

    def draw(self, context: bpy.types.Context) -> None:
        st = context.scene.posetalk
        row = self.layout.row(align=True)
        row.prop(st, "render_size")
        row.prop(st, "blinks")
        row = self.layout.row(align=True)
        row.operator("posetalk.render_frames", icon="SEQ_SEQUENCER")
        row.operator("posetalk.render_all", icon="RENDERLAYERS")


class EnginePanel:
    bl_label = "Engine"
    bl_icon = "SYSTEM"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        reason = check_engine(prefs.engine_python(), prefs.engine_root())
        if reason:
            layout.label(text=reason, icon="ERROR")
        else:
            state = "running" if runner.engine_running() else "idle (starts on the first job)"
            layout.label(text=f"Engine: {state}", icon="SYSTEM")
        layout.operator("posetalk.stop_engine", icon="CANCEL")


SUB_PANELS = (HeadPanel, CharacterPanel, MotionPanel, VideoPanel, TakesPanel, LipSyncPanel, RenderPanel, EnginePanel)


def _draw_header_icon(self: bpy.types.Panel, context: bpy.types.Context) -> None:
    self.layout.label(icon=self.bl_icon)


def _panel_classes() -> tuple[type, ...]:
    """The main panel and its sub-panels, once for the 3D View and once for the Sequencer."""
    out: list[type] = []
    for space, prefix in SPACES:
        main_id = f"{prefix}_PT_posetalk"
        out.append(type(main_id, (MainPanel, bpy.types.Panel), {"bl_idname": main_id, "bl_space_type": space}))
        for mixin in SUB_PANELS:
            name = f"{prefix}_PT_posetalk_{mixin.__name__.removesuffix('Panel').lower()}"
            attrs = {
                "bl_idname": name,
                "bl_space_type": space,
                "bl_region_type": "UI",
                "bl_category": "PoseTalk",
                "bl_parent_id": main_id,
                "draw_header": _draw_header_icon,
            }
            out.append(type(name, (mixin, bpy.types.Panel), attrs))
    return tuple(out)


classes = (POSETALK_UL_mapping, *_panel_classes())
