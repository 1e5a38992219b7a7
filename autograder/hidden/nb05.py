"""Hidden checks of notebook 5 (ViZDoom): the complete update, run by course_lib's probe next to the
student's code on a small actor-critic and a real rollout, against the reference: the loss parts,
the gradient (from the weights after one SGD step), the clipping, what it returns."""
from __future__ import annotations

import contextlib
import io
from types import SimpleNamespace

import torch

from autograder.hidden import nb04
from autograder.hidden.harness import Report, hidden_check
from autograder.reference import reference
from course_lib import probes
from course_lib.checks import CheckFailed, expect, expect_close, run_probe
from course_lib.networks import MLPActorCritic

NOTEBOOK = "05_vizdoom"
KWARGS = dict(obs_dim=4, n_actions=2, hidden=16)
LR = 1.0  # plain SGD: the weights move by exactly minus the (clipped) gradient


def _case(seed: int, gae_lambda: float, max_grad_norm: float):
    """A small actor-critic, 24 steps of 4 CartPoles (episode ends of both kinds: CartPole's
    time limit is shortened to get truncations), and the settings."""
    import gymnasium as gym

    from course_lib import runners
    from course_lib.envs import SAME_STEP

    torch.manual_seed(seed)
    model = MLPActorCritic(**KWARGS)

    def make():
        return gym.wrappers.RecordEpisodeStatistics(gym.wrappers.TimeLimit(gym.make("CartPole-v1").unwrapped, 15))

    vec = gym.vector.SyncVectorEnv([make] * 4, autoreset_mode=SAME_STEP)
    batch = runners.RolloutRunner(vec, model, num_steps=24, seed=seed).collect()
    cfg = SimpleNamespace(gamma=0.97, gae_lambda=gae_lambda, value_coef=0.5, entropy_coef=0.05,
                          max_grad_norm=max_grad_norm)
    return dict(model.state_dict()), probes.rollout_fields(batch), cfg


def _gae_right(gae) -> bool:
    if gae is None:
        return False
    with contextlib.redirect_stdout(io.StringIO()):
        return nb04.grade_gae(gae) == 4.0


def _step(after: dict, before: dict) -> dict[str, torch.Tensor]:
    """What SGD with lr 1 subtracted: the gradient the update used, after clipping."""
    return {k: (before[k] - after[k]) / LR for k in before}


@hidden_check("doom_update")
def grade_doom_update(fn, report: Report, gae=None) -> None:
    ref = reference(NOTEBOOK).doom_update
    free = _case(seed=5, gae_lambda=0.8, max_grad_norm=1e6)      # clipping never acts: the raw gradient
    clipped = _case(seed=6, gae_lambda=0.9, max_grad_norm=0.05)  # clipping acts on every step
    want = {name: probes.one_step(ref, KWARGS, *case, lr=LR) for name, case in (("free", free), ("clipped", clipped))}
    runs: dict = {}

    def got(name):  # the student's update, run once per case, inside the checks that need it
        case = free if name == "free" else clipped
        return runs.setdefault(name, run_probe(probes.one_step, fn, KWARGS, *case, lr=LR))

    helpers = "" if _gae_right(gae) else (" Your gae (pasted from notebook 4) does not pass notebook 4's checks: "
                                          "fix it first, this update is built on it.")

    def part(key, hint, weight):
        def run():
            mine, expected = got("free")["logs"].get(key), want["free"]["logs"][key]
            expect(isinstance(mine, float), f"'{key}' should be returned as a float, got {type(mine).__name__}.")
            if key == "policy_loss" and abs(mine - expected) > 1e-4 * max(1.0, abs(expected)):
                raw = _unnormalized_policy_loss(free)
                if abs(mine - raw) < 1e-4 * max(1.0, abs(raw)):
                    raise CheckFailed("your policy loss uses the raw GAE advantages: normalize them over the batch, "
                                      "(A - A.mean()) / (A.std() + 1e-8), before the policy loss.")
            expect_close(torch.tensor(mine), torch.tensor(expected), f"'{key}' on 24 steps of 4 games", hint + helpers,
                         atol=1e-4, rtol=1e-3)
        report.check(name_of[key], weight, run)

    name_of = {"policy_loss": "policy loss with normalized advantages", "value_loss": "value loss on the GAE targets",
               "entropy": "entropy of the policy"}
    part("policy_loss", "-(log_prob(actions) * normalized advantages).mean(), the advantages from gae with "
                        "cfg.gamma and cfg.gae_lambda, normalized over the batch.", 0.5)
    part("value_loss", "the mean of (targets - values)^2 with targets = A + V (the rollout's values, the advantages "
                       "*before* normalization).", 0.5)
    part("entropy", "dist.entropy().mean() over the batch.", 0.25)

    def gradient():
        start = free[0]
        mine, expected = _step(got("free")["params"], start), _step(want["free"]["params"], start)
        expect(any(float(g.abs().max()) > 0 for g in mine.values()),
               "the weights did not move: loss.backward() then optimizer.step()." + helpers)
        for name, g in expected.items():
            expect_close(mine[name], g, f"the gradient your update applied to `{name}` (clipping inactive)",
                         "loss = policy_loss + value_coef * value_loss - entropy_coef * entropy, built from one "
                         "forward pass with gradients; the advantages and targets are constants." + helpers,
                         atol=1e-5, rtol=1e-3)
    report.check("gradient with respect to every parameter of a small actor-critic", 1.5, gradient, gate=True)

    def clipping():
        start = clipped[0]
        mine, expected = _step(got("clipped")["params"], start), _step(want["clipped"]["params"], start)
        norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in mine.values()])).item()
        expect(norm <= clipped[2].max_grad_norm * 1.001 + 1e-7,
               f"your step's gradient norm is {norm:.4f}, above max_grad_norm = {clipped[2].max_grad_norm}: clip it with "
               "torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm) after backward(), before step().")
        for name, g in expected.items():
            expect_close(mine[name], g, f"the clipped gradient applied to `{name}`",
                         "clip the whole gradient's norm (all parameters together) to max_grad_norm." + helpers,
                         atol=1e-6, rtol=1e-3)
    report.check("the gradient's norm is clipped to max_grad_norm", 1.0, clipping)

    def returns():
        logs, expected = got("clipped")["logs"], want["clipped"]["logs"]
        missing = sorted(set(expected) - set(logs))
        expect(not missing, f"the returned dict misses {missing}.")
        expect_close(torch.tensor(float(logs["grad_norm"])), torch.tensor(expected["grad_norm"]),
                     "'grad_norm' when clipping acts", "the norm *before* clipping: what clip_grad_norm_ returns.",
                     rtol=1e-3)
    report.check("returns the numbers to plot (grad_norm before clipping)", 0.25, returns)


def _unnormalized_policy_loss(case) -> float:
    """The policy loss with the raw GAE advantages: a typical mistake, to name it."""
    from course_lib.runners import Rollout

    state, fields, cfg = case
    ref = reference(NOTEBOOK)
    model = MLPActorCritic(**KWARGS)
    model.load_state_dict(state)
    batch = Rollout(**fields)
    with torch.no_grad():
        adv = ref.gae(batch.rewards, batch.values, batch.terminated, batch.truncated, batch.final_values,
                      batch.last_value, cfg.gamma, cfg.gae_lambda).flatten()
        dist, _ = model(batch.obs.flatten(0, 1))
        return float(-(dist.log_prob(batch.actions.flatten()) * adv).mean())
