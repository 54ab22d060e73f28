"""The operators, one module per area (the stable scripting API, ``bpy.ops.posetalk.*``; see the README):
rig (create_rig), character (bind_character, mapping_add, mapping_remove), motion (generate_motion, new_take),
video (motion_from_video), takes (switch_take, make_editable, bake_take), lipsync (generate_lipsync), load
(load_motion), dialogue (dialogue_from_strips, dialogue_from_file, choose_language), render (render_frames,
render_all, clear_render_cache), engine (cancel, stop_engine). Each is one undo step; engine-backed ones change
the scene only when the engine's result arrives.
"""

from __future__ import annotations

from . import character, dialogue, engine, lipsync, load, motion, render, rig, takes, video

classes = (
    *rig.classes, *character.classes, *motion.classes, *video.classes, *takes.classes, *lipsync.classes,
    *load.classes, *dialogue.classes, *render.classes, *engine.classes,
)  # fmt: skip
