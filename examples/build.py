"""Build the weights of every example bundle: tiny files generated here, never downloaded.

Run from anywhere: ``python examples/build.py``. An example with weights to build ships a
``build_weights.py`` whose ``build()`` writes them; running this again rewrites the same bytes.
"""

import runpy
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
#: The pip extra of modelrt that installs a module a build script imports.
EXTRAS = {"onnx": "onnx", "torch": "torch", "keras": "tensorflow", "sklearn": "sklearn"}


def build_example(folder: Path) -> str:
    """Build one example's weights; return a one-line summary."""
    script = folder / "build_weights.py"
    if not script.exists():
        return f"{folder.name}: nothing to build"
    # run_path executes the script without importing it as a module, so each example's
    # script can use any name and never collides with another example's.
    built = runpy.run_path(str(script), run_name=f"build_{folder.name}")["build"]()
    return f"{folder.name}: {built.relative_to(EXAMPLES)} ({built.stat().st_size} bytes)"


def main() -> int:
    failed = 0
    # Every bundle folder, whatever its layout (native, Gesund-style, Clarifai-style).
    for folder in sorted(p for p in EXAMPLES.iterdir() if p.is_dir() and p.name[0] not in "._"):
        try:
            print(build_example(folder))
        except ModuleNotFoundError as exc:  # e.g. onnx, from the `onnx` extra
            name = (exc.name or "").partition(".")[0]
            extra = EXTRAS.get(name, name)
            print(f"{folder.name}: needs the {name!r} package: pip install -e '.[{extra}]'")
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
