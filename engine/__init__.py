"""PoseTalk engine: audio, text and portrait in; head pose, lips and frames out.

The engine never imports bpy. Blender talks to it through the JSON-lines worker
(``python -m engine serve``) and the JSON formats in ``engine.formats``.
"""

__version__ = "0.1.0"
