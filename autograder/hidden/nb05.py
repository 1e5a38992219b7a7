"""Hidden checks of notebook 5 (ViZDoom): the complete update, each part of its loss on its own.

The update runs in the student's process on a small actor-critic moved away from its
initialisation (``cases.trained_looking``: a policy far from uniform, values far from 0) and a
rollout with both kinds of episode end, with SGD at lr 1 and a weight decay: the weights it leaves,
read from outside (``course_lib.bench``), less the decay, are minus the gradient it
applied (weights changed by hand instead of by ``optimizer.step()`` miss the decay, and show). The settings isolate each
part: with ``value_coef = entropy_coef = 0`` the step is the policy gradient alone; raising
``value_coef`` or ``entropy_coef`` from 0 adds exactly the value loss's or the entropy bonus's
gradient; a small ``max_grad_norm`` shows the clipping; the same call twice shows whether the
gradients are zeroed. The course's own ``gae`` stands in for the pasted one (``STAND_INS``),
which is reported on apart.
"""

from __future__ import annotations

import contextlib
import io
import math
from types import SimpleNamespace

import torch

from autograder.hidden import nb04
from autograder.hidden.cases import MODEL, WEIGHT_DECAY, cartpole_rollouts, trained_looking
from autograder.hidden.harness import Checks, Context
from autograder.reference import reference
from course_lib.bench import bench_for
from course_lib.checks import CheckFailed, expect, expect_close, number
from course_lib.networks import MLPActorCritic
from course_lib.probes import applied
from course_lib.runners import Rollout

NOTEBOOK = "05_vizdoom"
STAND_INS = {"doom_update": ("gae",)}  # scored with the course's gae
CAP = 0.25  # a mistake in a part of the loss, the clipping or the zeroing keeps at most this
FREE = 1e9  # a max_grad_norm that never clips
ENTROPY_COEF = 0.5


def _settings(value_coef=0.0, entropy_coef=0.0, max_grad_norm=FREE):
    return SimpleNamespace(
        gamma=0.97, gae_lambda=0.9, value_coef=value_coef, entropy_coef=entropy_coef, max_grad_norm=max_grad_norm
    )


def _case(seed: int = 5):
    model = trained_looking(seed)
    [batch] = cartpole_rollouts(model, seed, 1, steps=24, envs=4)
    return dict(model.state_dict()), batch


def _reference_gradient(
    state,
    batch,
    cfg,
    *,
    normalize="unbiased",
    targets_plus_values=True,
    detach_advantages=True,
    entropy_sign=1.0,
    clip=True,
) -> tuple[dict, dict]:
    """The gradient of the reference's loss (and variants of it: typical mistakes), and its parts."""
    gae = reference(NOTEBOOK).gae
    model = MLPActorCritic(**MODEL)
    model.load_state_dict(state)
    b = Rollout(**batch)
    dist, values = model(b.obs.flatten(0, 1))
    source = b.values if detach_advantages else values.reshape(b.values.shape)
    advantages = gae(
        b.rewards, source, b.terminated, b.truncated, b.final_values, b.last_value, cfg.gamma, cfg.gae_lambda
    ).flatten()
    targets = (advantages + b.values.flatten()) if targets_plus_values else advantages
    targets = targets.detach()
    if normalize == "unbiased":
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    elif normalize == "biased":
        advantages = (advantages - advantages.mean()) / (advantages.std(unbiased=False) + 1e-8)
    if detach_advantages:
        advantages = advantages.detach()
    policy_loss = -(dist.log_prob(b.actions.flatten()) * advantages).mean()
    value_loss = (targets - values).pow(2).mean()
    entropy = dist.entropy().mean()
    loss = policy_loss + cfg.value_coef * value_loss - entropy_sign * cfg.entropy_coef * entropy
    model.zero_grad()
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm if clip else FREE)
    grads = {k: torch.zeros_like(p) if p.grad is None else p.grad.detach().clone() for k, p in model.named_parameters()}
    parts = {
        "loss": loss.item(),
        "policy_loss": policy_loss.item(),
        "value_loss": value_loss.item(),
        "entropy": entropy.item(),
        "grad_norm": norm.item(),
    }
    return grads, parts


def _norm(grads: dict) -> float:
    return float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads.values()])))


def _minus(a: dict, b: dict) -> dict:
    return {k: a[k] - b[k] for k in a}


def _close(a: dict, b: dict, rtol: float = 1e-3) -> bool:
    """Equal within a tolerance of b's size; never for NaN or inf (nor raising on them)."""
    if not (math.isfinite(_norm(a)) and math.isfinite(_norm(b))):
        return False
    scale = max(_norm(b), 1e-8)
    return all(torch.allclose(a[k], b[k], atol=2e-5 * scale, rtol=rtol) for k in b)


def _head(grads: dict, prefix: str) -> dict:
    return {k: g for k, g in grads.items() if k.startswith(prefix)}


CRITIC = ("critic_torso", "value_head")


def _critic(grads: dict) -> dict:
    return {k: g for k, g in grads.items() if k.startswith(CRITIC)}


def _actor(grads: dict) -> dict:
    return {k: g for k, g in grads.items() if not k.startswith(CRITIC)}


def _gae_note(gae) -> str | None:
    if gae is None:
        problem = "is missing"
    else:
        with contextlib.redirect_stdout(io.StringIO()):
            points = nb04.grade_gae(gae)
        if points == 4.0:
            return None
        problem = f"scores {points:g} / 4 on notebook 4's hidden checks"
    return (
        f"your pasted gae {problem}. It is not graded here (your doom_update was scored with the course's gae), "
        "but your agent in this notebook trains with yours: fix it in notebook 4 and paste it again."
    )


class DoomInputs(Context):
    """A network moved away from its initialisation, a rollout of 4 CartPoles with ends of both
    kinds, the reference's policy gradient on them, and the student's calls (each run once)."""

    def __init__(self, fn, gae=None):
        super().__init__(fn, gae)
        self.state, self.batch = _case()
        self.want_policy, _ = _reference_gradient(self.state, self.batch, _settings())
        self.runs: dict = {}

    def step(self, name: str, cfg, repeat: int = 1) -> dict:
        """The weights' change (minus the applied gradient) and the logs of the student's update with
        settings ``cfg``, on a model made afresh from ``state``; ``repeat``: calls in a row on the same
        model, the weights set back to ``state`` before each (the last call's change)."""
        if name not in self.runs:
            bench = bench_for(self.fn)
            model, files = bench.model(MODEL, self.state)
            optimizer = bench.build("sgd", model, 1.0, weight_decay=WEIGHT_DECAY)
            rollout = bench.build("rollout", self.batch)
            for _ in range(repeat):
                bench.write(files, self.state)
                logs = self.fn(model, optimizer, rollout, cfg)
                after = bench.read(files, self.state)
                expect(
                    all(bool(torch.isfinite(v).all()) for v in after.values()),
                    "after your update the weights hold NaN or inf: look for a division by zero (the std of "
                    "the advantages?) or a log of 0 in your loss.",
                )
            self.runs[name] = {
                "applied": applied(self.state, after, 1.0, WEIGHT_DECAY),
                "moved": {k: self.state[k] - after[k] for k in self.state},
                "logs": logs,
            }
        return self.runs[name]


checks = Checks("doom_update", DoomInputs)


def _it_moves(c: DoomInputs) -> None:
    """The checks after the first compare steps: an update that moves no weight fails them as not checked."""
    expect(
        _norm(c.step("policy", _settings())["moved"]) > 0,
        "not checked: your update did not move the weights at all (the first check says how to fix it).",
    )


@checks.case("the policy gradient: normalized GAE advantages, constants for the loss", 1.0, gate=CAP)
def policy(c: DoomInputs) -> None:
    state, batch, want_policy = c.state, c.batch, c.want_policy
    run = c.step("policy", _settings())
    got = run["applied"]
    expect(_norm(run["moved"]) > 0, "the weights did not move: loss.backward() then optimizer.step().")
    if _close(run["moved"], want_policy):
        raise CheckFailed(
            "the weights moved by exactly minus the gradient, but not as the optimizer you were given moves "
            "them (it also decays the weights here): your update changed them itself. Call optimizer.step()."
        )
    if _norm(_critic(got)) > 1e-6 * max(_norm(got), 1e-8):
        raise CheckFailed(
            "with value_coef = 0 your update still changes the critic: the policy loss sends gradient "
            "into the critic, so the advantages are not constants. Compute them under torch.no_grad() "
            "from the rollout's values (batch.values), or .detach() them."
        )
    if _close(got, want_policy) or _close(got, _reference_gradient(state, batch, _settings(), normalize="biased")[0]):
        return
    if _close(got, {k: -g for k, g in want_policy.items()}):
        raise CheckFailed(
            "the policy gradient points the wrong way: policy_loss = -(log_prob(actions) * "
            "advantages).mean() (minimizing it makes good actions likelier)."
        )
    if _close(got, _reference_gradient(state, batch, _settings(), normalize=None)[0]):
        raise CheckFailed(
            "your policy loss uses the raw GAE advantages: normalize them over the batch, "
            "(A - A.mean()) / (A.std() + 1e-8), before the policy loss."
        )
    for name, expected in _actor(want_policy).items():
        expect_close(
            got[name],
            expected,
            f"the policy gradient your update applied to `{name}` (value_coef = "
            "entropy_coef = 0: the policy loss alone)",
            "-(log_prob(actions) * normalized "
            "advantages).mean(), the advantages from gae with cfg.gamma and cfg.gae_lambda on "
            "batch.values, constants for the loss.",
            atol=2e-5 * _norm(want_policy),
            rtol=1e-3,
        )


@checks.case("the value loss: the mean squared error to the GAE targets A + V", 1.0, gate=CAP)
def value(c: DoomInputs) -> None:
    _it_moves(c)
    state, batch = c.state, c.batch
    got = _minus(c.step("value", _settings(value_coef=1.0))["applied"], c.step("policy", _settings())["applied"])
    want = _minus(_reference_gradient(state, batch, _settings(value_coef=1.0))[0], c.want_policy)
    if _close(got, want):
        return
    expect(
        _norm(got) > 0,
        "raising value_coef from 0 to 1 changes nothing: the loss has no value term "
        "(loss = policy_loss + value_coef * value_loss - entropy_coef * entropy).",
    )
    variants = {
        "targets = A: the critic's targets are A + V, the advantages plus the rollout's values": dict(
            targets_plus_values=False
        ),
    }
    for mistake, change in variants.items():
        alt = _minus(
            _reference_gradient(state, batch, _settings(value_coef=1.0), **change)[0],
            _reference_gradient(state, batch, _settings(), **change)[0],
        )
        if _close(got, alt):
            raise CheckFailed(f"the value loss's gradient is wrong: {mistake} (before normalizing the advantages).")
    for factor, words in (
        (0.5, "half the mean squared error"),
        (2.0, "twice the mean squared error"),
        (batch["rewards"].numel(), "the sum of squared errors, not their mean"),
    ):
        if _close(got, {k: factor * g for k, g in want.items()}, rtol=1e-2):
            raise CheckFailed(f"your value loss is {words}: use the mean of (targets - values)^2.")
    if _close(got, {k: g * 0 for k, g in want.items()}) or _norm(_critic(got)) == 0:
        raise CheckFailed(
            "the value loss sends no gradient into the critic: build it from the values of this "
            "forward pass, (targets - values).pow(2).mean()."
        )
    for name, expected in _critic(want).items():
        expect_close(
            got[name],
            expected,
            f"the value loss's gradient with respect to `{name}`",
            "the mean of "
            "(targets - values)^2 with targets = A + V (the rollout's values, the advantages before "
            "normalization).",
            atol=2e-5 * _norm(want),
            rtol=1e-3,
        )


@checks.case("the entropy bonus raises the entropy", 0.75, gate=CAP)
def entropy(c: DoomInputs) -> None:
    _it_moves(c)
    got = _minus(
        c.step("entropy", _settings(entropy_coef=ENTROPY_COEF))["applied"], c.step("policy", _settings())["applied"]
    )
    want = _minus(_reference_gradient(c.state, c.batch, _settings(entropy_coef=ENTROPY_COEF))[0], c.want_policy)
    if _close(got, want):
        return
    expect(
        _norm(got) > 0,
        "raising entropy_coef from 0 changes nothing: the entropy bonus is missing "
        "(loss = ... - entropy_coef * entropy, with entropy = dist.entropy().mean()).",
    )
    if _close(got, {k: -g for k, g in want.items()}):
        raise CheckFailed(
            "the entropy term lowers the entropy: its sign is flipped. The bonus is subtracted, "
            "loss = ... - entropy_coef * entropy, so that minimizing the loss keeps the policy "
            "exploring."
        )
    for name, expected in _actor(want).items():
        expect_close(
            got[name],
            expected,
            f"the entropy bonus's gradient with respect to `{name}`",
            "entropy = dist.entropy().mean(), the entropy of the whole distribution at each step; "
            "loss = ... - entropy_coef * entropy.",
            atol=2e-5 * _norm(want),
            rtol=1e-3,
        )


@checks.case("the step is clipped to max_grad_norm", 0.5, gate=CAP)
def clipped(c: DoomInputs) -> None:
    _it_moves(c)
    cfg = dict(value_coef=0.5, entropy_coef=0.01)
    free = c.step("free", _settings(**cfg))["applied"]  # your own update, with clipping out of reach
    limit = 0.1 * _norm(_reference_gradient(c.state, c.batch, _settings(**cfg))[0])
    got = c.step("clipped", _settings(**cfg, max_grad_norm=limit))["applied"]
    norm = _norm(got)
    expect(
        norm <= limit * 1.001 + 1e-7,
        f"your step's gradient norm is {number(norm, 4)}, above max_grad_norm = {number(limit, 4)}: clip it "
        "with torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm) after backward(), "
        "before step().",
    )
    scale = min(1.0, limit / max(_norm(free), 1e-12))
    if not _close(got, {k: g * scale for k, g in free.items()}):
        raise CheckFailed(
            "the step is within max_grad_norm, but it is not your whole gradient scaled down: clip "
            "the norm of all the parameters' gradients together (clip_grad_norm_ on "
            "model.parameters()), once, after backward()."
        )


@checks.case("each call starts from fresh gradients", 0.5, gate=CAP)
def zeroed(c: DoomInputs) -> None:
    _it_moves(c)
    once = c.step("policy", _settings())["applied"]
    twice = c.step("twice", _settings(), repeat=2)["applied"]
    if _close(twice, once):
        return
    if _close(twice, {k: 2 * g for k, g in once.items()}):
        raise CheckFailed(
            "the same update called twice on the same model moves it twice as far the second time: "
            "the gradients of the first call were still there. Call optimizer.zero_grad() before "
            "loss.backward()."
        )
    raise CheckFailed(
        "the same update, called twice on the same model from the same weights, applied a different "
        "step the second time: it should not depend on what an earlier call left behind."
    )


@checks.case("returns the numbers to plot (grad_norm before clipping)", 0.25)
def returns(c: DoomInputs) -> None:
    cfg = _settings(value_coef=0.5, entropy_coef=0.01, max_grad_norm=0.5)
    logs = c.step("logged", cfg)["logs"]
    accepted = [
        _reference_gradient(c.state, c.batch, cfg)[1],
        _reference_gradient(c.state, c.batch, cfg, normalize="biased")[1],
    ]
    expected = {"loss", "policy_loss", "value_loss", "entropy", "grad_norm", "explained_variance"}
    expect(isinstance(logs, dict) and expected <= set(logs), f"return a dict with the keys {sorted(expected)}.")
    expect(all(isinstance(logs[k], float) for k in expected), "return plain floats (.item()), not tensors.")
    not_finite = sorted(k for k in expected if not math.isfinite(logs[k]))
    expect(not not_finite, f"{not_finite} returned as NaN or inf: return each number as its tensor's .item().")
    for key in ("policy_loss", "value_loss", "entropy", "grad_norm"):
        mine = logs[key]
        if all(not abs(mine - parts[key]) <= 1e-3 * abs(parts[key]) + 1e-6 for parts in accepted):
            raise CheckFailed(
                f"'{key}' is {number(mine)}, expected {number(accepted[0][key])}"
                + (": the norm *before* clipping, what clip_grad_norm_ returns." if key == "grad_norm" else ".")
            )


@checks.note
def pasted(c: DoomInputs) -> str | None:
    return _gae_note(*c.more)


grade_doom_update = checks
