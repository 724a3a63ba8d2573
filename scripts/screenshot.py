"""Screenshot an HTML file with headless Chromium, for the README's pictures.

    python scripts/screenshot.py report.html docs/img/audit-report.png --width 1400 --height 2000

With ``--sample``, the HTML file is first written from baton's sample audit
(``testkit.sample``), so the README picture can be remade without a Prometheus:

    python scripts/screenshot.py --sample /tmp/audit.html docs/img/audit-report.png

The page gets ``--budget`` milliseconds of virtual time to run its scripts (Plotly draws
then), and the PNG is re-encoded with a reduced palette when Pillow is present, to keep it
small in the repository.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


def browser() -> str:
    """The Chromium binary on PATH (``CHROMIUM`` overrides), or exit naming the package."""
    found = os.environ.get("CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    if not found:
        sys.exit("screenshot: Chromium not found; install it (apt-get install -y chromium)")
    return found


def screenshot(html: Path, png: Path, width: int, height: int, budget_ms: int = 5000) -> None:
    """Render ``html`` at ``width`` x ``height`` CSS pixels into ``png``."""
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="baton-shot-") as profile:
        argv = [
            browser(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--virtual-time-budget={budget_ms}",
            f"--screenshot={png.resolve()}",
            html.resolve().as_uri(),
        ]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0 or not png.exists():
        sys.exit(f"screenshot: Chromium failed ({done.returncode}): {done.stderr[-500:]}")
    _shrink(png)


def _shrink(png: Path) -> None:
    """Quantise to 256 colours (charts and text survive it) when Pillow is installed."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(png) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(png, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the page to capture")
    parser.add_argument("png", type=Path, help="where to write the PNG")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=2000)
    parser.add_argument("--budget", type=int, default=5000, help="virtual time for scripts, ms")
    parser.add_argument(
        "--sample", action="store_true", help="first write HTML from baton's sample audit"
    )
    args = parser.parse_args()
    if args.sample:
        from baton.audit.report import render_html

        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # testkit: not installed
        from testkit.sample import sample_result

        args.html.write_text(render_html(sample_result()), encoding="utf-8")
    if not args.html.is_file():
        sys.exit(f"screenshot: {args.html}: no such file")
    screenshot(args.html, args.png, args.width, args.height, args.budget)
    print(f"{args.png}: {args.png.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
