"""Print riskpipe's Python requirements from ``setup.cfg``, one per line.

``docker/Dockerfile`` installs exactly this list (``install_requires`` plus the extras it names)
before copying the code, so the image and a ``make`` install never drift apart and the dependency
layer is rebuilt only when ``setup.cfg`` changes.

Usage: ``python requirements.py path/to/setup.cfg [--extra NAME ...]``
"""

from __future__ import annotations

import argparse
import configparser
import sys
from pathlib import Path
from typing import Sequence


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip() and not line.strip().startswith("#")]


def requirements(setup_cfg: Path, extras: Sequence[str] = ()) -> list[str]:
    """Return ``install_requires`` followed by the requirements of ``extras``.

    Raises:
        FileNotFoundError: ``setup_cfg`` does not exist.
        KeyError: an extra that ``setup.cfg`` does not declare (named in the message).
    """
    if not setup_cfg.is_file():
        raise FileNotFoundError(f"setup.cfg not found: {setup_cfg}")
    parser = configparser.ConfigParser()
    parser.read(setup_cfg, encoding="utf-8")
    reqs = _lines(parser.get("options", "install_requires"))
    declared = parser["options.extras_require"] if parser.has_section("options.extras_require") else {}
    for extra in extras:
        if extra not in declared:
            raise KeyError(f"{setup_cfg}: no extra {extra!r} in [options.extras_require]")
        reqs += _lines(declared[extra])
    return reqs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("setup_cfg", type=Path)
    parser.add_argument("--extra", action="append", default=[], help="also the requirements of this extra")
    args = parser.parse_args(argv)
    print("\n".join(requirements(args.setup_cfg, args.extra)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
