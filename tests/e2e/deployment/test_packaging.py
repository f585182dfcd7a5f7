"""Each function's zip holds only its own module; the layer's pins match the project's."""

from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "infra"))
import package

ROOT = Path(__file__).resolve().parents[3]


def test_function_zips_contain_only_their_module(tmp_path):
    built = package.build_functions(tmp_path)
    assert built["messages"] == ["messages_function.py", "run.sh"]
    assert built["count_tokens"] == ["count_tokens_function.py"]
    assert built["models"] == ["models_function.py"]
    with zipfile.ZipFile(tmp_path / "functions" / "messages.zip") as archive:
        mode = archive.getinfo("run.sh").external_attr >> 16
    assert mode & 0o111, "run.sh must stay executable in the zip"


def test_layer_requirements_use_the_project_pins():
    pyproject = (ROOT / "pyproject.toml").read_text()
    pins = dict(re.findall(r'"([a-z0-9-]+)==([0-9.]+)"', pyproject))
    layer = dict(re.findall(r"^([a-z0-9-]+)==([0-9.]+)$", (ROOT / "shared" / "requirements.txt").read_text(), re.M))
    assert layer, "the layer needs its requirements"
    for name, version in layer.items():
        assert pins.get(name) == version, name
    assert "boto3" not in layer and "botocore" not in layer, "the Lambda runtime provides boto3"


def test_the_layer_carries_the_gateway_and_not_the_simulator(tmp_path):
    package.copy_gateway(tmp_path)
    copied = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.py")}
    assert "gateway/app.py" in copied and "gateway/catalog/model_map.py" in copied
    assert (tmp_path / "gateway" / "catalog" / "default_model_map.json").exists()
    assert not [p for p in copied if "simulator" in p or "orgcheck" in p]
    assert not list(tmp_path.rglob("__pycache__"))
