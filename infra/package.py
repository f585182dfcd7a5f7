"""``make package``: build what SAM deploys, for the Lambda target, and check its size.

- the layer: ``shared/requirements.txt`` installed for manylinux x86_64 / Python 3.12 (binary wheels
  only) plus the ``gateway`` package, under ``python/`` as Lambda expects; fails above 50 MB unzipped;
- one zip per function holding only that function's own files.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER_LIMIT_MB = 50.0
FUNCTIONS = ("messages", "count_tokens", "models", "authorizer")
SKIP = ("__pycache__", ".pyc", ".egg-info")  # name endings left out of every archive


def _kept(path: Path) -> bool:
    return not any(part.endswith(SKIP) or part in SKIP for part in path.parts)


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def zip_dir(source: Path, target: Path, prefix: str = "") -> list[str]:
    names = []
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source)
            if path.is_file() and _kept(relative):
                name = f"{prefix}{relative.as_posix()}"
                info = zipfile.ZipInfo(name)
                info.external_attr = (path.stat().st_mode & 0o777) << 16  # keep run.sh executable
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
                names.append(name)
    return names


def build_functions(out: Path) -> dict[str, list[str]]:
    return {name: zip_dir(ROOT / "functions" / name, out / "functions" / f"{name}.zip") for name in FUNCTIONS}


def build_layer(out: Path) -> tuple[Path, int]:
    staging = out / "layer"
    shutil.rmtree(staging, ignore_errors=True)
    site = staging / "python"
    site.mkdir(parents=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--platform",
            "manylinux2014_x86_64",
            "--python-version",
            "3.12",
            "--implementation",
            "cp",
            "--only-binary=:all:",
            "--target",
            str(site),
            "-r",
            str(ROOT / "shared" / "requirements.txt"),
        ],
        check=True,
    )
    copy_gateway(site)
    size = tree_size(staging)
    zip_dir(staging, out / "layer.zip")
    return staging, size


def copy_gateway(site: Path) -> None:
    """Only the gateway package: the simulator and orgcheck (shared/ too) are not the layer's."""
    ignore = shutil.ignore_patterns(*(f"*{end}" for end in SKIP))
    shutil.copytree(ROOT / "shared" / "gateway", site / "gateway", ignore=ignore)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    parser.add_argument("--functions-only", action="store_true")
    args = parser.parse_args()
    for name, files in build_functions(args.out).items():
        print(f"function {name:13s} {len(files)} files: {', '.join(files)}")
    if args.functions_only:
        return 0
    staging, size = build_layer(args.out)
    zipped = (args.out / "layer.zip").stat().st_size
    site = staging / "python"
    skip = (".dist-info", "__pycache__")
    packages = sorted(p.name for p in site.iterdir() if p.is_dir() and not p.name.endswith(skip))
    gateway = sorted(p.name for p in (site / "gateway").iterdir() if not p.name.startswith("__"))
    print(f"layer packages: {', '.join(packages)}")
    print(f"layer gateway/: {', '.join(gateway)}  (the simulator and orgcheck stay out)")
    print(f"layer: {size / 1e6:.1f} MB unzipped, {zipped / 1e6:.1f} MB zipped (limit {LAYER_LIMIT_MB:.0f} MB)")
    if size > LAYER_LIMIT_MB * 1e6:
        print("layer is above the limit", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
