"""Check `trm import official` and our TRM against the official code on many shapes.

``tests/test_official.py`` checks two fixed checkpoints made by the official code. This
script checks the importer's generality the same way, on shapes those two do not cover
(attention over 900 tokens, learned positions, no positions, other prefix lengths and
widths, other cycle and layer counts): for each, it builds the official model from a
checkout of SamsungSAILMontreal/TinyRecursiveModels (nothing of it is part of trm), gives
its zero-initialised parts random values, saves a checkpoint folder as the official
``pretrain.py`` would (``all_config.yaml`` + ``step_N``), imports it with
:func:`trm.official.read_official`, and compares, in fp32:

* evaluation: the logits and both halting logits at every supervision step;
* training: the loss and every parameter's gradient over two supervision steps (exploration
  off, the carry going on), through our training loop's step and loss functions.

    python benchmarks/official_parity.py --official PATH [--steps N]

Prints one line per shape and exits 1 if any difference is over 1e-4 (absolute for the
outputs, relative for the loss and gradients).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
import yaml

from trm.official import read_official, rename
from trm.train import TokenObjective

# name -> official arch settings that differ from the base below, and (seq_len, vocab, ids)
SHAPES = {
    "attention-rope-900": (dict(), (900, 12, 7)),
    "attention-learned-pos": (dict(pos_encodings="learned", puzzle_emb_len=4), (49, 6, 3)),
    "attention-no-pos": (dict(pos_encodings="none"), (64, 6, 2)),
    "mlp-prefix-8-narrow-emb": (
        dict(mlp_t=True, pos_encodings="none", puzzle_emb_len=8, puzzle_emb_ndim=48),
        (81, 11, 1),
    ),
    "mlp-ceil-prefix": (
        dict(mlp_t=True, pos_encodings="none", puzzle_emb_len=0, puzzle_emb_ndim=80),
        (36, 8, 4),
    ),
    "attention-cycles-1-1-layers-3": (
        dict(H_cycles=1, L_cycles=1, L_layers=3, expansion=2),
        (100, 6, 5),
    ),
    "attention-no-puzzle-emb": (
        dict(puzzle_emb_ndim=0, puzzle_emb_len=0, halt_max_steps=5),
        (30, 6, 1),
    ),
}
BASE = dict(
    name="recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1",
    loss=dict(name="losses@ACTLossHead", loss_type="stablemax_cross_entropy"),
    H_cycles=2,
    L_cycles=3,
    H_layers=0,
    L_layers=2,
    hidden_size=32,
    num_heads=2,
    expansion=4,
    puzzle_emb_ndim=32,
    puzzle_emb_len=16,
    pos_encodings="rope",
    halt_exploration_prob=0.0,
    halt_max_steps=6,
    forward_dtype="float32",
    mlp_t=False,
    no_ACT_continue=True,
)


def official_model(arch: dict, seq_len: int, vocab: int, ids: int, batch: int):
    from models.losses import ACTLossHead
    from models.recursive_reasoning.trm import TinyRecursiveReasoningModel_ACTV1

    config = {k: v for k, v in arch.items() if k not in ("name", "loss")}
    config.update(batch_size=batch, seq_len=seq_len, vocab_size=vocab, num_puzzle_identifiers=ids)
    model = ACTLossHead(
        TinyRecursiveReasoningModel_ACTV1(config), loss_type=arch["loss"]["loss_type"]
    )
    with torch.no_grad():  # the zero-initialised parts get values, so that they matter
        inner = model.model.inner
        inner.q_head.weight.normal_(0, 0.1)
        inner.q_head.bias.normal_(0, 1)
        if hasattr(inner, "puzzle_emb"):
            inner.puzzle_emb.weights.normal_(0, 1)
    return model


def check(name: str, settings: dict, sizes: tuple, steps: int, folder: Path) -> float:
    """The worst difference between the official code and ours on this shape."""
    seq_len, vocab, ids = sizes
    arch = {**BASE, **settings, "halt_max_steps": settings.get("halt_max_steps", steps)}
    torch.manual_seed(0)
    batch = 3
    theirs = official_model(arch, seq_len, vocab, ids, batch)
    folder.mkdir()
    (folder / "all_config.yaml").write_text(
        yaml.safe_dump({"arch": arch, "global_batch_size": batch})
    )
    torch.save(theirs.state_dict(), folder / "step_7")
    ours_ck = read_official(folder, seq_len=seq_len)
    from trm.model import TRM

    ours = TRM(ours_ck.config)
    ours.load_state_dict(ours_ck.state)

    inputs = torch.randint(1, vocab, (batch, seq_len), dtype=torch.int32)
    labels = torch.randint(1, vocab, (batch, seq_len))
    labels[:, -3:] = -100  # some ignored positions
    pids = torch.randint(0, ids, (batch,), dtype=torch.int32)
    data = {"inputs": inputs, "labels": labels, "puzzle_identifiers": pids}
    worst = 0.0

    # evaluation: every step from the initial state
    theirs.eval()
    ours.eval()
    with torch.no_grad():
        carry = theirs.initial_carry(data)
        x = ours.embed_input(inputs, pids)
        y, z = ours.initial_state(batch)
        for _ in range(arch["halt_max_steps"]):
            carry, _, _, out, _ = theirs(
                carry=carry,
                batch=data,
                return_keys=["logits", "q_halt_logits", "q_continue_logits"],
            )
            mine = ours.deep_step(x, y, z)
            y, z = mine.y, mine.z
            for a, b in (
                (mine.logits, out["logits"]),
                (mine.halt_logit, out["q_halt_logits"]),
                (mine.continue_logit, out["q_continue_logits"]),
            ):
                worst = max(worst, (a - b).abs().max().item())

    # training: two supervision steps with the carry, gradients compared
    theirs.train()
    ours.train()
    objective = TokenObjective(ours.config)
    carry = theirs.initial_carry(data)
    y, z = ours.initial_state(batch)
    ours_labels = labels.clone()
    ours_labels[ours_labels == -100] = 0

    class Slots:
        pass

    slots = Slots()
    slots.inputs, slots.puzzle_ids = inputs, pids
    params = dict(ours.named_parameters())
    for _ in range(2):
        theirs.zero_grad()
        ours.zero_grad()
        carry, loss, _, _, _ = theirs(carry=carry, batch=data, return_keys=[])
        (loss / batch).backward()
        slots.y, slots.z = y, z
        mine = objective.step(ours, slots)
        mine_loss = objective.loss(mine, ours_labels).loss
        mine_loss.backward()
        expected = (loss / batch).item()
        worst = max(worst, abs(mine_loss.item() - expected) / max(abs(expected), 1e-12))
        for key, p in theirs.named_parameters():
            if p.grad is None:
                continue
            g = params[rename(key.removeprefix("model.inner."))].grad
            worst = max(worst, ((g - p.grad).norm() / p.grad.norm().clamp(min=1e-12)).item())
        halted = carry.halted  # exploration off: halt logit > 0 or the last step
        keep = ~halted[:, None, None]
        y0, z0 = ours.initial_state(batch)
        y, z = torch.where(keep, mine.y, y0), torch.where(keep, mine.z, z0)
    return worst


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--official",
        type=Path,
        required=True,
        help="a checkout of SamsungSAILMontreal/TinyRecursiveModels",
    )
    p.add_argument("--steps", type=int, default=6, help="supervision steps (halt_max_steps)")
    args = p.parse_args()
    sys.path.insert(0, str(args.official))
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, (settings, sizes) in SHAPES.items():
            worst = check(name, settings, sizes, args.steps, Path(tmp) / name)
            ok = worst <= 1e-4
            failed += not ok
            print(
                f"{name:<32} seq {sizes[0]:>4} vocab {sizes[1]:>2} ids {sizes[2]}: worst "
                f"difference {worst:.2e} {'ok' if ok else 'OVER 1e-4'}",
                flush=True,
            )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
