"""The line's words for lip sync: from the sequencer's text strips (subtitles), from a .txt file beside the sound,
and the Language menu (espeak-ng's languages, asked of the engine)."""

from __future__ import annotations

import os
from typing import Any

import bpy

from .. import runner, sequencer
from ..engine_client import EngineUnavailable
from ..errors import UserError
from .common import HeadOption, head


class POSETALK_OT_dialogue_from_strips(HeadOption, bpy.types.Operator):
    """Take the dialogue from the text strips (subtitles) that overlap the head's sound strip"""

    bl_idname = "posetalk.dialogue_from_strips"
    bl_label = "From Text Strips"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            obj = head(context, self.rig)
            strip = sequencer.head_strip(context.scene, obj)
            if strip is None:
                raise UserError(f"{obj.name} has no sound strip: link one first")
            words = sequencer.subtitles(context.scene, strip)
            if not words:
                raise UserError(f"no text strip with words overlaps the sound strip {strip.name!r}")
        except UserError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        obj.posetalk.dialogue = words
        self.report({"INFO"}, f"PoseTalk: dialogue of {obj.name} from the text strips ({len(words.split())} words)")
        return {"FINISHED"}


class POSETALK_OT_dialogue_from_file(HeadOption, bpy.types.Operator):
    """Take the dialogue from a text file (default: the .txt beside the sound file, e.g. line_042.txt for
    line_042.wav)"""

    bl_idname = "posetalk.dialogue_from_file"
    bl_label = "From Text File"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(name="Text File", subtype="FILE_PATH", options={"SKIP_SAVE"})

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            obj = head(context, self.rig)
            path = bpy.path.abspath(self.filepath) if self.filepath else _beside_the_sound(context, obj)
            try:
                with open(path, encoding="utf-8-sig") as fh:
                    words = " ".join(fh.read().split())
            except FileNotFoundError:
                raise UserError(f"no text file: {path}") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise UserError(f"cannot read {path} as UTF-8 text: {exc}") from None
            if not words:
                raise UserError(f"the text file is empty: {path}")
        except UserError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        obj.posetalk.dialogue = words
        self.report({"INFO"}, f"PoseTalk: dialogue of {obj.name} from {os.path.basename(path)}")
        return {"FINISHED"}


def _beside_the_sound(context: bpy.types.Context, obj: bpy.types.Object) -> str:
    strip = sequencer.head_strip(context.scene, obj)
    if strip is None or strip.sound is None:
        raise UserError(f"{obj.name} has no sound strip: choose the text file yourself")
    return os.path.splitext(bpy.path.abspath(strip.sound.filepath, library=strip.sound.library))[0] + ".txt"


_LANGUAGES: list[tuple[str, str, str]] = []  # (code, code, "") items; Blender needs the strings kept alive


def _language_items(_self: Any, _context: bpy.types.Context | None) -> list[tuple[str, str, str]]:
    return _LANGUAGES or [("en", "en", "")]


class POSETALK_OT_choose_language(HeadOption, bpy.types.Operator):
    """Choose the language of the dialogue from the languages the engine speaks (espeak-ng's)"""

    bl_idname = "posetalk.choose_language"
    bl_label = "Choose Language"
    bl_options = {"REGISTER", "UNDO"}
    bl_property = "choice"

    language: bpy.props.StringProperty(name="Language", description="A language code (scripts)", options={"SKIP_SAVE"})

    def _load(self) -> None:
        if not _LANGUAGES:
            codes = runner.query("languages")["languages"]
            _LANGUAGES[:] = [(c, c, "") for c in codes]

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        try:
            self._load()
        except (UserError, EngineUnavailable) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        context.window_manager.invoke_search_popup(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            obj = head(context, self.rig)
            self._load()
            code = (self.language or self.choice).strip().lower().replace("_", "-")
            if code not in {c for c, _n, _d in _LANGUAGES}:
                raise UserError(f"unknown language {code!r}: the engine speaks {len(_LANGUAGES)} (en, fr, de, ...)")
        except (UserError, EngineUnavailable) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        obj.posetalk.language = code
        self.report({"INFO"}, f"PoseTalk: {obj.name} speaks {code}")
        return {"FINISHED"}


POSETALK_OT_choose_language.__annotations__["choice"] = bpy.props.EnumProperty(name="Language", items=_language_items)

classes = (POSETALK_OT_dialogue_from_strips, POSETALK_OT_dialogue_from_file, POSETALK_OT_choose_language)
