"""LibreOffice headless, run once for a batch of files, with a profile of its own."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.support.system_tools import require_program

# Calc's CSV export: `,` between cells, `"` around text, UTF-8, every sheet to its own
# file (<name>-<sheet>.csv), text cells always quoted (so a number or a formula's
# result shows unquoted), values in the standard format rather than as displayed,
# formulas' results rather than their text.
CALC_TO_CSV = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,true,true,false,false,false,-1"
WRITER_TO_TEXT = "txt:Text (encoded):UTF8"


def convert(files: Sequence[Path], target: str, outdir: Path, profile: Path) -> None:
    """Convert every file of `files` with one soffice run (a start costs seconds)."""
    soffice = require_program("soffice", "libreoffice-calc-nogui")
    outdir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile.resolve().as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            target,
            "--outdir",
            str(outdir),
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
