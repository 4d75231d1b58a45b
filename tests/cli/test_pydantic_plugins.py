"""The stand-in for pydantic's plug-in loader: no importlib.metadata while plug-ins are off, pydantic's own loader otherwise.

Each check runs in a fresh interpreter, since what it is about is which modules get imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

PREAMBLE = """
import os, sys
from evalkit.cli.pydantic_plugins import LOADER, skip_plugin_discovery
from pydantic import BaseModel
"""


def run_python(code: str, env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if env_value is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = env_value
    proc = subprocess.run(
        [sys.executable, "-c", PREAMBLE + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.mark.parametrize("env_value", [None, "__all__", "1", "true"])
def test_models_are_built_without_importlib_metadata_while_plugins_are_off(env_value: str | None) -> None:
    out = run_python(
        """
        skip_plugin_discovery()
        class Item(BaseModel):
            name: str
            tags: list[str] = []
        repr(sys.modules[LOADER])  # probing the module (repr, __file__) does not load the real one
        print(Item.model_validate({"name": "a"}).tags, "importlib.metadata" in sys.modules,
              os.environ["PYDANTIC_DISABLE_PLUGINS"], getattr(sys.modules[LOADER], "__file__", None))
        """,
        env_value,
    )
    assert out == f"[] False {env_value or '__all__'} None"


def test_plugins_named_by_the_user_go_through_pydantics_loader() -> None:
    # a list of plug-in names means some are on: pydantic's own loader decides which
    out = run_python(
        """
        skip_plugin_discovery()
        class Item(BaseModel):
            name: str
        print("importlib.metadata" in sys.modules, sys.modules[LOADER].__file__.endswith("_loader.py"))
        """,
        "some-plugin",
    )
    assert out == "True True"


def test_turning_plugins_back_on_hands_over_to_pydantics_loader() -> None:
    out = run_python(
        """
        skip_plugin_discovery()
        stand_in = sys.modules[LOADER]
        del os.environ["PYDANTIC_DISABLE_PLUGINS"]
        plugins = list(stand_in.get_plugins())
        print(plugins, sys.modules[LOADER] is not stand_in, stand_in._plugins == {})
        """,
        None,
    )
    # pydantic's loader scanned the entry points (none installed: an empty cache, not None)
    assert out == "[] True True"
