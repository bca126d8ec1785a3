"""Render an HTML file in a real headless Chromium (Debian's ``chromium``) and capture what it logged.

Used by the report test: the screenshot proves the plots are drawn, and the console log
(Chromium writes every console message, errors included, to stderr with
``--enable-logging=stderr``) proves the page raised nothing.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


@dataclass
class Rendering:
    screenshot: Path
    console: list[str]  # console messages (any level): a clean page has none
    stderr: str


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def render(
    html: str | Path, screenshot: str | Path, *, width: int = 1280, height: int = 3000, timeout: float = 120
) -> Rendering:
    """Screenshot ``html`` at ``width`` x ``height``.

    Raises:
        FileNotFoundError: when no Chromium is installed (``.ci/run`` installs Debian's).
        RuntimeError: when the browser fails or writes no screenshot.
    """
    browser = find_browser()
    if browser is None:
        raise FileNotFoundError(f"no headless browser found (tried {BROWSERS}); apt-get install chromium")
    screenshot = Path(screenshot)
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        f"--window-size={width},{height}",
        f"--screenshot={screenshot}",
        Path(html).resolve().as_uri(),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if not screenshot.exists():
        raise RuntimeError(f"{browser} wrote no screenshot (exit {done.returncode}): {done.stderr[-2000:]}")
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return Rendering(screenshot, console, done.stderr)
