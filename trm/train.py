"""Training with deep supervision and adaptive halting, one explicit loop.

A batch is ``batch_size`` *slots*. Each slot holds one example and its carried state
(y, z) across supervision steps. Every optimizer step runs one ``deep_step`` on all slots,
backpropagates the loss of that step, and carries the detached (y, z) on. A slot whose
example halts (its halting head says "right", after a minimum number of steps drawn for
exploration, or after ``n_sup`` steps) takes a fresh example at the next step.

Everything random comes from seeded generators saved in the checkpoint, with the slots'
carried state, so ``--resume`` continues bit for bit (on CPU, fp32) where a run stopped.

The loop does not know what an example is: an :class:`~trm.contract.Objective` says how
to build the model, run one supervision step on the slots, score it and evaluate. Puzzles
(token sequences, a TRM) use :class:`TokenObjective`; vision supplies its own for images.
A single-step model (:func:`trm.contract.is_single_step`) has no state in the slots and
every example halts after its one step.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from trm import __version__
from trm.budget import (
    MARGIN,
    MAX_FITTED_STEPS,
    PROBE_SHARE,
    PROBE_STEPS,
    REFITS,
    RESERVE,
    UNTIMED_STEPS,
    Fit,
    StepCosts,
    check_fit,
    fit_steps,
    refit_points,
)
from trm.checkpoint import (
    check_state,
)
from trm.config import TrainConfig, TRMConfig
from trm.contract import Objective, StepOutput
from trm.curriculum import changes_ahead, depth_at, relative_cost, work
from trm.data import Augmenter, Sampler, TokenData
from trm.device import autocast
from trm.distributed import Dist
from trm.ema import EMA
from trm.embedding import puzzle_tables, sparse_sign_step
from trm.errors import SettingError, TRMError, first_line
from trm.evaluate import evaluate
from trm.files import METRICS
from trm.losses import LossOutput, supervision_loss
from trm.model import TRM, parameter_count
from trm.optim import lr_factor, make_optimizer, set_lr
from trm.run_state import RunState, Slots, open_metrics, write_record
from trm.run_state import restore as restore_run
from trm.run_state import save as save_run
from trm.runs import RunFolder


class TokenObjective(Objective):
    """Puzzles: a TRM on token sequences, cross-entropy per position, exact-answer halting."""

    def __init__(self, config: TRMConfig):
        self.config = config

    def make_model(self) -> TRM:
        return TRM(self.config)

    def step(self, model, slots: Slots) -> StepOutput:
        return model(slots.inputs, slots.puzzle_ids, slots.y, slots.z)

    def loss(self, out: StepOutput, labels: torch.Tensor) -> LossOutput:
        return supervision_loss(out.logits, labels, out.halt_logit, self.config.loss)

    def evaluate(self, model, data: TokenData, **kw) -> dict:
        return evaluate(model, data, halting="full", **kw).summary()

    def eval_weights(self, data: TokenData) -> dict[str, float]:
        return {"cell_accuracy": float(np.count_nonzero(data.labels))}  # (PAD is 0)

    def step_counts(self, loss: LossOutput) -> dict[str, torch.Tensor]:
        return {"cells_right": loss.cell_correct.sum(), "cells": loss.cells.sum()}

    def window_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        return {"cell_accuracy": sums.get("cells_right", 0) / max(1, sums.get("cells", 0))}


class Trainer:
    def __init__(
        self,
        model_cfg: TRMConfig,
        cfg: TrainConfig,
        train_data: TokenData,
        test_data: TokenData | None,
        out: Path | RunFolder,
        *,
        device: torch.device,
        precision: str = "fp32",
        compile: bool = False,
        augment: Augmenter | None = None,
        run_info: dict | None = None,
        dist: Dist = Dist(),
        objective: Objective | None = None,
    ):
        """``model_cfg``: the model's config (:class:`trm.contract.ModelConfig`); without an
        ``objective`` it is a TRM's."""
        if len(train_data) == 0:
            raise TRMError("the training split is empty")
        if cfg.batch_size % dist.world:
            raise TRMError(f"batch size {cfg.batch_size} must divide among {dist.world} processes")
        self.dist = dist
        self.rows = cfg.batch_size // dist.world  # slots held by this process
        self.model_cfg, self.cfg = model_cfg, cfg
        self.train_data, self.test_data = train_data, test_data
        self.run = out if isinstance(out, RunFolder) else RunFolder.unmanaged(out)
        self.device, self.precision = device, precision
        self.augment = augment if cfg.augment else None
        self.run_info = run_info or {}
        self.objective = objective or TokenObjective(model_cfg)
        torch.manual_seed(cfg.seed)
        self.model = self.objective.make_model().to(device)
        if cfg.depth_curriculum and not hasattr(self.model, "depth"):
            raise SettingError("depth_curriculum", "this model has no recursion depth to grow")
        if cfg.trainable == "embeddings":  # only the puzzle tables (buffers) learn
            if not puzzle_tables(self.model):
                raise SettingError("trainable", "embeddings: this model has no puzzle embeddings")
            self.model.requires_grad_(False)
        self.step_fn = self.model
        if dist.active and cfg.trainable == "all":  # gradients averaged over the global batch
            from torch.nn.parallel import DistributedDataParallel

            # buffers are constants or the puzzle table, which every rank updates alike:
            # no need to broadcast them (the table can be gigabytes) at every forward
            # (`broadcast_buffers` before torch 2.13, which warns of it)
            known = inspect.signature(DistributedDataParallel).parameters
            sync = (
                "forward_sync_buffers" if "forward_sync_buffers" in known else "broadcast_buffers"
            )
            self.step_fn = DistributedDataParallel(
                self.model,
                device_ids=[device.index] if device.type == "cuda" else None,
                **{sync: False},
            )
        if compile:
            self.step_fn = torch.compile(self.step_fn)
        self.optimizer = make_optimizer(self.model, cfg)
        self.puzzle_tables = puzzle_tables(self.model)
        self.ema = EMA(self.model, cfg.ema, cfg.ema_warmup) if cfg.ema > 0 else None
        self.sampler = Sampler(len(train_data), cfg.seed)
        self.explore = torch.Generator().manual_seed(cfg.seed + 1)
        self.aug_rng = np.random.default_rng(cfg.seed + 2)
        self.state = RunState()
        self.slots = self._empty_slots()

    # ------------------------------------------------------------------ slots

    def _empty_slots(self) -> Slots:
        b, data = self.rows, self.train_data
        # the slots hold copies (a model may learn its starts: its step takes them itself)
        y, z = (
            None if t is None else t.detach().clone()
            for t in self.objective.start_state(self.model, b)
        )
        zeros = lambda dtype: torch.zeros(b, dtype=dtype, device=self.device)
        like = lambda a: torch.zeros(
            (b, *a.shape[1:]), dtype=torch.from_numpy(a[:0]).dtype, device=self.device
        )
        return Slots(
            zeros(torch.long),
            like(data.inputs),
            like(data.labels),
            zeros(torch.long),
            y,
            z,
            zeros(torch.long),
            zeros(torch.long),
            torch.ones(b, dtype=torch.bool, device=self.device),
        )

    def _refill(self) -> None:
        """Halted slots take fresh examples (augmented), fresh (y, z) and a new minimum.

        Draws are made for the halted slots of the *global* batch, in order, on every
        process alike; each process then keeps the draws for its own rows.
        """
        s = self.slots
        halted = self.dist.gather(s.halted).cpu()  # (batch_size,)
        global_rows = halted.nonzero().squeeze(-1)
        k = int(global_rows.numel())
        if k == 0:
            return
        idx = self.sampler.take(k)
        self.state.images += k
        inputs = self.train_data.inputs[idx.numpy()]
        labels = self.train_data.labels[idx.numpy()]
        puzzle_ids = self.train_data.puzzle_ids[idx.numpy()]
        if self.augment is not None:
            inputs, labels, puzzle_ids = self.augment(inputs, labels, puzzle_ids, self.aug_rng)
        min_steps = self._draw_min_steps(k)

        first = self.dist.rank * self.rows
        mine = (global_rows >= first) & (global_rows < first + self.rows)
        if not mine.any():
            return
        rows = (global_rows[mine] - first).to(self.device)
        pick = mine.numpy()
        s.index[rows] = idx[mine].to(self.device)
        s.inputs[rows] = torch.from_numpy(np.ascontiguousarray(inputs[pick])).to(self.device)
        s.labels[rows] = torch.from_numpy(np.ascontiguousarray(labels[pick])).to(self.device)
        s.puzzle_ids[rows] = (
            torch.from_numpy(np.ascontiguousarray(puzzle_ids[pick])).long().to(self.device)
        )
        if s.y is not None:  # (a single-step model carries nothing)
            with torch.no_grad():
                y0, z0 = self.objective.start_state(self.model, len(rows))
            s.y[rows] = y0.to(s.y.dtype)
            s.z[rows] = z0.to(s.z.dtype)
        s.steps[rows] = 0
        s.min_steps[rows] = min_steps[mine].to(self.device)
        s.halted[rows] = False

    def _draw_min_steps(self, k: int) -> torch.Tensor:
        """Exploration: with some probability an example must run a random number of steps
        (2 to n_sup) before it may halt; otherwise 1."""
        explore = torch.rand(k, generator=self.explore) < self.model_cfg.halt_exploration
        n_sup = self.model_cfg.n_sup  # (with one step there is nothing longer to explore)
        lengths = torch.randint(min(2, n_sup), n_sup + 1, (k,), generator=self.explore)
        return torch.where(explore, lengths, torch.ones_like(lengths))

    # ------------------------------------------------------------------ one step

    def position(self) -> float:
        """Where the run is, in the schedule's steps: optimizer steps, or (with an
        ``images`` budget) fresh examples drawn per batch, which is the same number when
        every example takes one step."""
        return self.state.images / self.cfg.batch_size if self.cfg.images else self.state.step

    def _anchor(self) -> tuple[float, float]:
        """(position, progress) where a time budget last corrected the schedule: from
        there the positions left cover the rest of it, linearly ((0, 0): no correction)."""
        b = self.state.budget
        if b.get("progress") is None:
            return 0.0, 0.0
        return float(b["at_step"]), float(b["progress"])

    def progress(self, position: float | None = None) -> float:
        """How far through the schedule ``position`` (default: now) is, from 0 to 1: the
        position over the step count, continued from the last correction of a budget."""
        position = self.position() if position is None else position
        at, done = self._anchor()
        if self.cfg.steps <= at:
            return 1.0
        return min(1.0, done + (position - at) * (1 - done) / (self.cfg.steps - at))

    def schedule_position(self) -> float:
        """Where the learning-rate schedule is: the position, or after a budget's
        correction, the progress kept in the corrected schedule's steps."""
        if self.state.budget.get("progress") is None:  # never corrected
            return self.position()
        return self.progress() * self.cfg.steps

    def depth(self) -> tuple[int, int]:
        """(n, T) of this training step (:mod:`trm.curriculum`)."""
        c = self.model_cfg
        return depth_at(self.progress(), c.n, c.T, self.cfg.depth_curriculum)

    def step_depth(self) -> tuple[int, int] | None:
        """(n, T) of the step about to run; None without a curriculum (always full)."""
        return self.depth() if self.cfg.depth_curriculum else None

    def full_depth(self) -> tuple[int, int] | None:
        """:meth:`step_depth` once the curriculum has ended."""
        return (self.model_cfg.n, self.model_cfg.T) if self.cfg.depth_curriculum else None

    def relative_cost(self, depth: tuple[int, int] | None) -> float:
        """A step at ``depth`` against one at full depth, by the model's arithmetic."""
        return 1.0 if depth is None else relative_cost(depth, self.model_cfg.n, self.model_cfg.T)

    def depth_changes_ahead(self, position: float) -> int:
        """How many times the depth still changes after ``position``."""
        if not self.cfg.depth_curriculum:
            return 0
        c = self.model_cfg
        return changes_ahead(self.progress(position), c.n, c.T, self.cfg.depth_curriculum)

    def work_ahead(self, done: float, total: int, cost=None) -> float:
        """The steps from ``done`` to the end of a schedule corrected to ``total`` steps
        there (its progress kept), in full-depth steps; ``cost(depth)``: a step at
        ``depth`` in full-depth steps (default: :meth:`relative_cost`)."""
        if not self.cfg.depth_curriculum:
            return total - done
        start = self.progress(done)
        if start >= 1 or total <= done:
            return 0.0
        per_step = (1 - start) * total / (total - done)  # schedule steps per step
        c = self.model_cfg
        spent = work(start * total, total, total, c.n, c.T, self.cfg.depth_curriculum, cost)
        return spent / per_step

    def finished(self) -> bool:
        if self.cfg.images:
            return self.state.images >= self.cfg.images
        return self.state.step >= self.cfg.steps

    def train_step(self) -> dict:
        factor = lr_factor(self.schedule_position(), self.cfg)  # (before this step's draws)
        self._refill()
        s, cfg = self.slots, self.cfg
        self.model.train()
        set_lr(self.optimizer, factor)
        if cfg.depth_curriculum:
            self.model.depth = self.depth()
        with autocast(self.device, self.precision):
            out = self.objective.step(self.step_fn, s)
            loss = self.objective.loss(out, s.labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.loss.backward()
        if cfg.depth_curriculum:
            self.model.depth = None  # evaluation recurses at full depth
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        for table in self.puzzle_tables:  # the rows in the batch, on every rank alike
            sparse_sign_step(
                table, cfg.puzzle_emb_lr * factor, cfg.puzzle_emb_weight_decay, self.dist
            )
        if self.ema is not None:
            self.ema.update(self.model)
        with torch.no_grad():
            if s.y is not None:
                s.y, s.z = out.y, out.z
            s.steps += 1
            if cfg.exploration_draw == "every-step":  # the official rule: a new draw each step
                first = self.dist.rank * self.rows  # (drawn for the global batch on every rank)
                drawn = self._draw_min_steps(cfg.batch_size)[first : first + self.rows]
                s.min_steps = drawn.to(self.device)
            s.halted = s.steps >= self.model_cfg.n_sup  # a single-step model: always
            if out.halt_logit is not None:
                s.halted |= (out.halt_logit > 0) & (s.steps >= s.min_steps)
            halted = s.halted
            self.state.step += 1
            counts = {
                "loss": loss.loss,
                "answer_loss": loss.answer_loss,
                "halt_loss": loss.halt_loss,
                "halted": halted.sum(),
                "halted_correct": (loss.correct & halted).sum(),
                "halted_steps": s.steps[halted].sum(),
                **self.objective.step_counts(loss),
            }
            values = [v.item() if v.is_floating_point() else int(v) for v in counts.values()]
            totals = self.dist.sum(values)  # counts add up over ranks, losses average
            return {
                n: (v / self.dist.world if n.endswith("loss") else v)
                for n, v in zip(counts, totals)
            }

    # ------------------------------------------------------------------ evaluation

    @contextlib.contextmanager
    def evaluation_weights(self) -> Iterator[torch.nn.Module]:
        """The model with the weights evaluation uses, for the block: the EMA averages are
        copied into its parameters and the raw ones put back after (buffers, such as a
        large puzzle table, are shared: no second model is built)."""
        if self.ema is None:
            yield self.model
            return
        params = dict(self.model.named_parameters())
        raw = {k: p.detach().clone() for k, p in params.items()}
        averages = self.ema.averages()
        with torch.no_grad():
            for k, p in params.items():
                p.copy_(averages[k])
        try:
            yield self.model
        finally:
            with torch.no_grad():
                for k, p in params.items():
                    p.copy_(raw[k])

    def run_eval(self, max_examples: int | None = None) -> dict:
        if self.test_data is None or len(self.test_data) == 0:
            return {}
        data = self.test_data.head(self.cfg.eval_max if max_examples is None else max_examples)
        # several processes: each evaluates its shard, and the shards' results are joined
        part = self.dist.shard(len(data))
        shard = TokenData(data.inputs[part], data.labels[part], data.puzzle_ids[part])
        with self.evaluation_weights() as model:
            result = self.objective.evaluate(
                model,
                shard,
                batch_size=self.cfg.batch_size,
                device=self.device,
                precision=self.precision,
            )
        if len(shard) == len(data):  # (one process, or fewer examples than processes)
            return result
        return self.dist.mean_over(result, len(shard), self.objective.eval_weights(shard))

    @property
    def out(self) -> Path:
        """Where the run is written now (a new run's stage until its first checkpoint)."""
        return self.run.path

    # ------------------------------------------------------------------ checkpoints

    def config_json(self) -> dict:
        return {
            "model": self.model_cfg.to_dict(),
            "train": self.cfg.to_dict(),
            "step": self.state.step,
            "trm_version": __version__,
            "ema": self.ema is not None,
            **self.run_info,
        }

    def save(self) -> Path:
        """Write the checkpoint (the main process does; the slots of all ranks go in it):
        :func:`trm.run_state.save`."""
        return save_run(self)

    def restore(self) -> None:
        """Go on from the run's checkpoint (:func:`trm.run_state.restore`)."""
        restore_run(self)

    def start_from(self, weights: dict[str, torch.Tensor], where="the starting weights") -> None:
        """Begin from another run's evaluation weights (fine-tuning; ``where``: their file,
        for messages): the model and its EMA start there; optimizer, schedule and step count
        start fresh."""
        check_state(weights, self.model.state_dict(), where)
        try:
            self.model.load_state_dict(weights)
        except RuntimeError as e:
            raise TRMError(
                f"the starting weights do not fit this model ({first_line(e, 'mismatch')})"
            ) from None
        if self.ema is not None:
            self.ema.load_state_dict({k: v.to(self.device) for k, v in weights.items()}, 0)

    # ------------------------------------------------------------------ the loop

    def fit(
        self,
        *,
        max_minutes: float | None = None,
        progress: bool = True,
        on_step: Callable[[int], None] | None = None,
        fit_to: int | None = None,
        log: Callable[[str], None] | None = None,
        stop: Callable[[dict], bool] | None = None,
    ) -> dict:
        """Train until ``cfg.steps`` (or ``cfg.images`` examples drawn, or the time limit);
        checkpoint on the way and on Ctrl-C.

        ``fit_to`` (with ``max_minutes``): size the schedule to the time limit, at most
        ``fit_to`` steps (see :mod:`trm.budget`); ``log`` hears what was chosen. ``stop``
        hears every periodic evaluation's result; True ends the run there (early stopping:
        that evaluation is its last, and its checkpoint is saved)."""
        cfg = self.cfg
        sizing = _Sizing(self, max_minutes, fit_to, log) if max_minutes and fit_to else None
        deadline = None if not max_minutes else time.monotonic() + 60 * max_minutes
        stopped = False
        with open_metrics(self.out / METRICS if self.dist.main else None) as metrics:
            bar = self._progress_bar(progress and self.dist.main)
            window = _Window()
            session_start, elapsed_before = time.monotonic(), self.state.elapsed
            try:
                while not self.finished():
                    if deadline is not None and self._past(deadline):
                        if sizing is not None:
                            sizing.check_sized()
                        break
                    before, depth = int(self.position()), self.step_depth()
                    window.add(self.train_step())
                    step = self.state.step
                    self.state.elapsed = elapsed_before + time.monotonic() - session_start
                    bar.update(int(self.position()) - before if cfg.images else 1)
                    if sizing is not None and sizing.due(step, depth):
                        cfg = sizing.fit(step, deadline, metrics)
                        bar.total = cfg.steps
                        bar.refresh()
                    if step % cfg.log_every == 0 or self.finished():
                        window = self._log_window(metrics, window, bar)
                    due = step % cfg.eval_every == 0 and not self.finished()
                    if due and self._periodic_eval(metrics, step, sizing, stop):
                        stopped = True  # (`stop` said so: this evaluation is the last)
                        break
                    if step % cfg.checkpoint_every == 0 and not self.finished():
                        self.save()  # (the last one is saved once, after the final evaluation)
                    if on_step is not None:
                        on_step(step)
            except KeyboardInterrupt:
                bar.close()
                if not self.dist.active:  # Ctrl-C saves first, so --resume goes on from here
                    self.save()  # (several processes: no collective save, the last one stands)
                raise
            bar.close()
            if self.finished():
                self._log_eval(metrics, self.state.step)
            self.save()
        return {
            "step": self.state.step,
            "steps": cfg.steps,  # the schedule's length (as fitted to a time budget)
            "finished": self.finished(),  # False: stopped by the time limit or `stop`
            "stopped_early": stopped,
            "elapsed": self.state.elapsed,
            "eval": self.state.last_eval,
            "images": self.state.images,
            "parameters": parameter_count(self.model),
        }

    def _progress_bar(self, show: bool) -> tqdm:
        return tqdm(
            total=self.cfg.steps,
            initial=int(self.position()),
            desc="train",
            unit="step",
            disable=not show,
            dynamic_ncols=True,
            mininterval=0.5,
        )

    def _log_window(self, metrics, window: _Window, bar: tqdm) -> _Window:
        """Write the window's training metrics (and show them on the bar); a fresh window."""
        record = {
            "step": self.state.step,
            **window.summary(self.cfg.batch_size, self.objective),
            "lr": self.optimizer.param_groups[0]["lr"],
            "elapsed": round(self.state.elapsed, 2),
            "images": self.state.images,
        }
        write_record(metrics, record)
        bar.set_postfix(
            loss=f"{record['loss']:.3f}",
            exact=f"{record['exact_accuracy']:.3f}",
            steps=f"{record['mean_halt_steps']:.1f}",
            sps=f"{record['samples_per_s']:.0f}",
        )
        return _Window()

    def _periodic_eval(self, metrics, step: int, sizing, stop) -> bool:
        """Evaluate and log (timed for a budget); whether ``stop`` ends the run here."""
        started = time.monotonic()
        self._log_eval(metrics, step)
        if sizing is not None:
            sizing.evaluated(time.monotonic() - started)
        return stop is not None and self.agreed(stop(self.state.last_eval), main_only=True)

    def agreed(self, flag: bool, *, main_only: bool = False) -> bool:
        """``flag`` as every process sees it: true when any process raised it (or, with
        ``main_only``, when the main process did), so that all act at the same step."""
        if self.dist.active:
            raised = flag and (self.dist.main or not main_only)
            flag = self.dist.sum([float(raised)])[0] > 0
        return flag

    def _past(self, deadline: float) -> bool:
        """Whether the time limit has passed: every process stops at the same step (one
        that went on alone would wait for the others forever), when the first one is past."""
        over = time.monotonic() > deadline
        if self.dist.active:
            over = self.dist.sum([float(over)])[0] > 0
        return over

    def _log_eval(self, metrics, step: int) -> None:
        result = self.run_eval()  # (every process: each its shard)
        if result and self.dist.main:
            self.state.last_eval = {"step": step, **result}
            write_record(
                metrics,
                {
                    "step": step,
                    "elapsed": round(self.state.elapsed, 2),
                    "images": self.state.images,
                    "eval": result,
                },
            )


class _Sizing:
    """Sizes a run's schedule to its time limit (:mod:`trm.budget`): times its steps (at
    each depth of a curriculum) and a small evaluation, fixes the step count, and corrects
    it on the way (:data:`trm.budget.REFITS`, and soon after each change of depth)."""

    def __init__(self, trainer: Trainer, minutes: float, cap: int, log) -> None:
        self.trainer, self.minutes, self.cap, self.log = trainer, minutes, cap, log
        start = trainer.state.step
        self.timed_from = start + UNTIMED_STEPS  # step at which the clock starts
        self.points = [self.timed_from + PROBE_STEPS]
        self.clock: float | None = None
        self.mark = time.monotonic()  # when the step being timed began
        self.eval_spent = 0.0  # evaluation seconds since the mark
        self.evals: list[float] = []  # whole evaluations, as they ran
        self.eval_seconds = 0.0
        self.costs = StepCosts(trainer.relative_cost)
        self.depth: object = "unset"  # of the last step; its first steps are kept apart
        self.fresh_left = 0
        self.soon: int | None = None  # a look soon after the depth changed
        self.times: list[float] = []  # the looks of ``points`` by the clock
        self.regular = False  # (whether the look due now is one of them)
        self.fitted: Fit | None = None

    def due(self, step: int, depth) -> bool:
        """Step ``step`` ran at ``depth`` (:meth:`Trainer.step_depth`): time it, and say
        whether to fit the schedule now."""
        now = time.monotonic()
        seconds, self.mark, self.eval_spent = now - self.mark - self.eval_spent, now, 0.0
        if depth != self.depth:
            if self.fitted is not None:  # a new depth: time it, then correct the schedule
                self.soon = step + UNTIMED_STEPS + PROBE_STEPS
            self.depth, self.fresh_left = depth, UNTIMED_STEPS
        self.costs.add(depth, seconds, fresh=self.fresh_left > 0)
        self.fresh_left = max(0, self.fresh_left - 1)
        if step == self.timed_from:
            self.clock = now
        self.regular = False
        if self.clock is None:
            return False
        soon = self.soon is not None and step >= self.soon
        if self.points:
            if self.fitted is None:  # slow steps: time fewer of them
                late = (
                    step > self.timed_from and now - self.clock >= PROBE_SHARE * 60 * self.minutes
                )
            else:  # a look is due by the steps or by the clock, whichever comes first: a
                late = now >= self.times[0]  # machine that slows down late meets it in time
            self.regular = step >= self.points[0] or self._agreed(late)
        return soon or self.regular

    def _agreed(self, flag: bool) -> bool:
        """``flag``, as the first process that raised it says (the processes must fit at the
        same step, and their clocks differ)."""
        return self.trainer.agreed(flag)

    def check_sized(self) -> None:
        """The time ran out before the run was sized: with no length given, the budget
        cannot hold the run (with one, it stops where it is, whichever came first)."""
        if self.fitted is None and self.cap >= MAX_FITTED_STEPS:
            raise SettingError(
                "max_minutes",
                f"{self.minutes:g} is over before the run could time its first "
                f"{UNTIMED_STEPS + PROBE_STEPS} steps: give more minutes",
            )

    def evaluated(self, seconds: float) -> None:
        self.eval_spent += seconds
        self.evals.append(seconds)

    def fit(self, step: int, deadline: float, metrics) -> TrainConfig:
        t = self.trainer
        if self.soon is not None and step >= self.soon:
            self.soon = None
        if self.regular and self.points:
            self.points.pop(0)
            self.times = self.times[1:]
        self.costs.settle()
        step_seconds = self.costs.seconds(t.full_depth())  # a full-depth step

        def cost(depth) -> float:  # a step at ``depth``, in full-depth steps
            return self.costs.seconds(depth) / step_seconds

        if self.evals:
            self.eval_seconds = sum(self.evals) / len(self.evals)
        elif self.fitted is None:
            self.eval_seconds = self._time_an_evaluation()
        budget = 60 * self.minutes
        left = deadline - time.monotonic() - RESERVE * budget
        left -= self.costs.switch * t.depth_changes_ahead(step)  # (recompiling, say)
        steps = fit_steps(
            seconds_left=left,
            step_seconds=step_seconds * MARGIN,
            eval_seconds=self.eval_seconds,
            done=step,
            eval_every=t.cfg.eval_every,
            cap=self.cap,
            work=lambda done, total: t.work_ahead(done, total, cost),
        )
        # every process takes the first one's measurements (they must agree on the schedule)
        steps, step_seconds, eval_seconds = t.dist.sum(
            [float(v) if t.dist.main else 0.0 for v in (steps, step_seconds, self.eval_seconds)]
        )
        first = self.fitted is None
        # a correction keeps the progress made: the steps left cover the rest of the schedule
        # (the first fit sizes it from the start: positions are steps, as without a budget)
        progress = None if first else t.progress(step)
        self.fitted = Fit(
            self.minutes, max(int(steps), step + 1), step_seconds, eval_seconds, step, progress
        )
        if first:
            share = t.cfg.warmup_share
            if share > 0 and t.cfg.warmup > share * self.fitted.steps:
                t.cfg = replace(t.cfg, warmup=max(1, int(share * self.fitted.steps)))
            check_fit(self.fitted, t.cfg.warmup, t.test_data is not None)
            ahead = len(REFITS)
        else:  # the end moved: so do the looks still to come
            ahead = len(self.points)
        looks = refit_points(step, self.fitted.steps)
        self.points = looks[max(0, len(looks) - ahead) :] if ahead else []
        now, end = time.monotonic(), deadline - RESERVE * budget
        self.times = [now + f * (end - now) for f in REFITS][len(REFITS) - len(self.points) :]
        images = self.fitted.steps * t.cfg.batch_size if t.cfg.images else 0
        t.cfg = replace(t.cfg, steps=self.fitted.steps, images=images)
        t.state.budget = self.fitted.to_dict()
        if first and self.log is not None and t.dist.main:
            self.log(self.fitted.describe(t.cfg.warmup))
        write_record(metrics, {"step": step, "budget": self.fitted.to_dict()})
        return t.cfg

    def _time_an_evaluation(self) -> float:
        """One evaluation's seconds, from a timed evaluation of a few test examples."""
        t = self.trainer
        if t.test_data is None or len(t.test_data) == 0:
            return 0.0
        whole = len(t.test_data.head(t.cfg.eval_max))
        few = min(whole, max(8, t.cfg.batch_size))
        started = time.monotonic()
        t.run_eval(max_examples=few)
        return (time.monotonic() - started) * whole / few


class _Window:
    """Training metrics summed since the last log line."""

    def __init__(self) -> None:
        self.n = 0
        self.sums: dict[str, float] = {}
        self.start = time.perf_counter()

    def add(self, m: dict) -> None:
        self.n += 1
        for k, v in m.items():
            self.sums[k] = self.sums.get(k, 0.0) + v

    def summary(self, batch: int, objective: Objective) -> dict:
        s, n = self.sums, max(1, self.n)
        seconds = time.perf_counter() - self.start
        return {
            "loss": s.get("loss", 0) / n,
            "answer_loss": s.get("answer_loss", 0) / n,
            "halt_loss": s.get("halt_loss", 0) / n,
            # among examples that finished (halted) in this window: exactly right at halt
            "exact_accuracy": s.get("halted_correct", 0) / max(1, s.get("halted", 0)),
            **objective.window_metrics(s),
            "mean_halt_steps": s.get("halted_steps", 0) / max(1, s.get("halted", 0)),
            "samples_per_s": n * batch / seconds if seconds > 0 else 0.0,
        }
