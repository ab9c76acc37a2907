"""The docs' console transcripts, made by running their commands, so they cannot drift.

A transcript is a ```console block under a marker naming its command::

    <!-- transcript: trm solve sudoku --no-color -->

Run from the repository root:

    python docs/transcripts.py           # run each command, rewrite its block
    python docs/transcripts.py --check   # say which blocks differ from what the tool prints

(tests/test_docs.py runs the check.) Each command runs as a user would, 100 columns wide,
without colour, one CPU thread, in fp32 (``TRM_PRECISION``). The step panels of a watched
solve are abridged: the first step, the last one that changed the answer and every other
panel are kept; the steps between are summed up in one line from their own panels
(conflicts and cells changed).
Times (``14.8 ms``, ``0.86 s``) differ from run to run: the check reads them as equal.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "docs" / "cli.md"]
BLOCK = re.compile(r"(<!-- transcript: (?P<command>.+?) -->\n```console\n)(?P<body>.*?)(```)", re.S)
# fp32 everywhere: `--precision auto` would take bf16 on a CPU with AVX512-BF16, and the
# steps' answers would differ from one machine to another
ENV = {
    "COLUMNS": "100",
    "NO_COLOR": "1",
    "OMP_NUM_THREADS": "1",
    "PYTHONHASHSEED": "0",
    "TRM_PRECISION": "fp32",
}
TIME = re.compile(r"\b\d+(\.\d+)? (ms|s)\b")
PANEL_TOP = re.compile(r"^╭─ step (\d+) of \d+ ")


def run(command: str) -> str:
    """What ``command`` prints (standard output and error, as a terminal shows them)."""
    shell = re.sub(r"(^|\|\s*)trm ", rf"\g<1>{sys.executable} -m cli.main ", command)
    done = subprocess.run(
        shell,
        shell=True,
        cwd=REPO,
        env={**os.environ, **ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    return done.stdout


def _panels(lines: list[str]) -> list[tuple[int | None, list[str]]]:
    """The output cut into step panels (step number, lines) and what lies between (None)."""
    parts: list[tuple[int | None, list[str]]] = []
    for line in lines:
        top = PANEL_TOP.match(line)
        if top:
            parts.append((int(top.group(1)), [line]))
        elif (parts and parts[-1][0] is not None and not parts[-1][1][-1].startswith("╰")) or (
            parts and parts[-1][0] is None
        ):
            parts[-1][1].append(line)
        else:
            parts.append((None, [line]))
    return parts


def _row(panel: list[str], name: str) -> str:
    found = re.search(rf"│.*\s{name}\s+(\S+)", "\n".join(panel))
    return found.group(1) if found else "?"


def abridge(text: str) -> str:
    """Keep the first step panel and the last that changed the answer; sum up the rest."""
    parts = _panels(text.rstrip("\n").split("\n"))
    steps = [(step, panel) for step, panel in parts if step is not None]
    if len(steps) <= 2:
        return text
    changed = [step for step, panel in steps if _row(panel, "changed") not in ("0", "?")]
    keep = {steps[0][0], changed[-1] if changed else steps[-1][0]}
    out: list[str] = []
    skipped: list[tuple[int, list[str]]] = []

    def summary() -> None:
        if not skipped:
            return
        first, last = skipped[0][0], skipped[-1][0]
        span = f"step {first}" if first == last else f"steps {first}-{last}"
        conflicts = ", ".join(_row(panel, "conflicts") for _, panel in skipped)
        moved = ", ".join(_row(panel, "changed") for _, panel in skipped)
        out.append(f"  ... {span}: conflicts {conflicts}; cells changed {moved} ...")
        skipped.clear()

    for step, panel in parts:
        if step is not None and step not in keep:
            skipped.append((step, panel))
            continue
        summary()
        out.extend(panel)
    summary()
    return "\n".join(out) + "\n"


def transcript(command: str) -> str:
    return f"$ {command}\n" + abridge(run(command))


def same(a: str, b: str) -> bool:
    return TIME.sub("<time>", a) == TIME.sub("<time>", b)


def refresh(path: Path, check: bool) -> list[str]:
    """Rewrite the transcripts in ``path`` (or with ``check``, only compare): the commands
    whose transcript differed."""
    text = path.read_text()
    differ: list[str] = []

    def replace(match: re.Match) -> str:
        made = transcript(match.group("command"))
        if not same(made, match.group("body")):
            differ.append(match.group("command"))
        return match.group(1) + (match.group("body") if check else made) + match.group(4)

    new = BLOCK.sub(replace, text)
    if not check and new != text:
        path.write_text(new)
    return differ


def main(argv: list[str]) -> int:
    check = "--check" in argv
    differ = [f"{path.name}: {c}" for path in DOCS for c in refresh(path, check)]
    for line in differ:
        print(("differs: " if check else "rewrote: ") + line)
    return 1 if check and differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
