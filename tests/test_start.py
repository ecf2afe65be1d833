"""A fast start: `import sanitize`, `sanitize --help` and an unchanged audit load only what they
use (the decoders, numpy and Dask load when a sample is checked), and the lazily loaded public
names are what they were."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from sanitize.config import PILLOW_MAX_IMAGE_PIXELS
from tests.conftest import cli_env, image_folder

HEAVY = ("numpy", "PIL", "simplejpeg", "dask", "distributed")


def _loaded_after(code: str) -> list[str]:
    """Which HEAVY packages a fresh interpreter has imported after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], env=cli_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_import_and_help_load_no_decoder_numpy_or_dask():
    assert _loaded_after("import sanitize") == []
    help_run = "import sys\nfrom sanitize.cli import app\ntry:\n    app(['--help'])\nexcept SystemExit:\n    pass"
    assert _loaded_after(help_run) == []
    checks_run = help_run.replace("'--help'", "'checks', '--json'")
    assert _loaded_after(checks_run) == []


def test_an_unchanged_audit_loads_no_decoder_and_no_dask(tmp_path):
    folder = image_folder(tmp_path / "data", per_class=3)
    audit = f"import sanitize\nsanitize.audit({str(folder)!r}, {str(tmp_path / 'a.sqlite')!r}, scheduler='synchronous')"
    first = _loaded_after(audit)
    assert {"PIL", "simplejpeg"} <= set(first)
    assert set(_loaded_after(audit)) & {"PIL", "simplejpeg", "dask", "distributed"} == set()


def test_public_names_are_the_functions_even_once_their_modules_are_imported():
    import sanitize.audit.store
    import sanitize.quarantine.journal
    import sanitize.scan

    assert callable(sanitize.scan) and sanitize.scan.__module__ == "sanitize.scan"
    assert callable(sanitize.audit) and sanitize.audit.__name__ == "audit"
    assert callable(sanitize.quarantine) and sanitize.quarantine.__name__ == "quarantine"
    assert sanitize.history is sanitize.audit.__globals__["history"]
    assert set(sanitize.__all__) <= set(dir(sanitize))
    for name in sanitize.__all__:
        assert getattr(sanitize, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = sanitize.nope


def test_the_default_pixel_limit_is_pillows():
    assert PILLOW_MAX_IMAGE_PIXELS == Image.MAX_IMAGE_PIXELS
