"""The widgets' front-end code: plain ES modules in ``js/``, shipped inside the wheel.

A wheel carries them as ``syft_code_queue/widgets/js`` (hatch ``force-include``); an
editable install or a checkout reads the repository's ``js/`` folder. anywidget loads a
widget's module from a blob URL, where relative imports cannot resolve, so each widget's
module is served with ``common.js`` inlined in place of its import line.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_CANDIDATES = (_HERE / "js", _HERE.parents[1] / "js")
_COMMON_IMPORT = re.compile(r'^import \{[^}]*\} from "\./common\.js";\n', re.MULTILINE)


def asset_dir() -> Path:
    for folder in _CANDIDATES:
        if (folder / "common.js").is_file():
            return folder
    raise FileNotFoundError(
        "the widgets' front-end files are missing (looked in "
        + ", ".join(str(c) for c in _CANDIDATES)
        + "); reinstall syft-code-queue"
    )


@lru_cache(maxsize=None)
def esm(name: str) -> str:
    """``js/<name>`` as one self-contained ES module."""
    folder = asset_dir()
    source = (folder / name).read_text(encoding="utf-8")
    if not _COMMON_IMPORT.search(source):
        raise ValueError(f"js/{name} must import its helpers from ./common.js on one line")
    common = (folder / "common.js").read_text(encoding="utf-8")
    return _COMMON_IMPORT.sub(lambda _m: common + "\n", source, count=1)


def css_path() -> Path:
    return asset_dir() / "widgets.css"
