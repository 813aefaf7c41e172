"""Peak memory of preparing a 20-megapixel photo: ``python -m bench images [--json]``."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

# A phone's 20 MP photo, noisy so it compresses like a real one.
SIZE = (5472, 3648)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child would report the
# peak of this process (which just drew the 20 MP photo) instead of its own.
MEASURE = """
import re, sys, tempfile
from pathlib import Path
from lifeorg.pipeline.images import prepare_image
def peak_kib():
    return int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))
data = Path(sys.argv[1]).read_bytes()
before = peak_kib()
with tempfile.TemporaryDirectory() as store:
    prepare_image(data, Path(store), 1)
print(before, peak_kib())
"""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench images")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true", help="(the same: it takes seconds)")
    args = parser.parse_args(argv)
    from PIL import Image

    photo = Image.effect_noise(SIZE, 40).convert("RGB")
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=90)
    with tempfile.NamedTemporaryFile(suffix=".jpg") as file:
        file.write(buffer.getvalue())
        file.flush()
        out = subprocess.run(
            [sys.executable, "-c", MEASURE, file.name],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        ).stdout.split()
    before_kib, after_kib = (int(v) for v in out)
    result = {
        "megapixels": round(SIZE[0] * SIZE[1] / 1e6, 1),
        "jpeg_mb": round(len(buffer.getvalue()) / 2**20, 1),
        # The process's peak before preparing (imports, the photo's bytes) and after.
        "baseline_rss_mb": round(before_kib / 1024, 1),
        "peak_rss_mb": round(after_kib / 1024, 1),
    }
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0
