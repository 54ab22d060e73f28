"""Build the Blender extension zip: ``dist/posetalk-<version>.zip``.

Zip layout (Blender's extension rules: the manifest and the add-on's ``__init__.py`` at the zip root):
``blender_manifest.toml``, the ``addon/`` package (its modules and sub-packages), and ``engine_location.json`` recording this project's
engine Python and folder, so the installed extension finds the engine without configuration.

Usage: ``python scripts/build_extension.py [--out DIR] [--python PATH] [--root DIR]``; prints JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def read_manifest(path: Path) -> dict:
    with open(path, "rb") as fh:
        manifest = tomllib.load(fh)
    for key in (
        "schema_version",
        "id",
        "version",
        "name",
        "tagline",
        "maintainer",
        "type",
        "blender_version_min",
        "license",
    ):
        if key not in manifest:
            raise SystemExit(f"error: {path} lacks {key!r}")
    perms = manifest.get("permissions", {})
    if "network" in perms:
        raise SystemExit("error: the extension must not ask for network access")
    if "files" not in perms or not perms["files"].strip():
        raise SystemExit("error: the files permission must be explained")
    if len(manifest["tagline"]) > 64 or manifest["tagline"].endswith((".", "!")):
        raise SystemExit("error: the tagline must be at most 64 characters, without final punctuation")
    return manifest


def build(out_dir: Path, python: str, root: Path) -> Path:
    manifest_path = ROOT / "blender_manifest.toml"
    manifest = read_manifest(manifest_path)
    sources = sorted(p for p in (ROOT / "addon").rglob("*.py") if "__pycache__" not in p.parts)
    if not any(p.name == "__init__.py" for p in sources):
        raise SystemExit("error: addon/__init__.py is missing")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{manifest['id']}-{manifest['version']}.zip"
    tmp = target.with_suffix(".zip.tmp")
    location = {"python": python, "root": str(root)}
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(manifest_path, "blender_manifest.toml")
        for src in sources:
            zf.write(src, src.relative_to(ROOT / "addon").as_posix())
        zf.writestr("engine_location.json", json.dumps(location, indent=1) + "\n")
    tmp.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"), help="engine Python to record")
    parser.add_argument("--root", type=Path, default=ROOT, help="engine project folder to record")
    args = parser.parse_args(argv)
    target = build(args.out.resolve(), args.python, args.root.resolve())
    with zipfile.ZipFile(target) as zf:
        names = zf.namelist()
    print(json.dumps({"zip": str(target), "files": names, "engine_python": args.python}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
