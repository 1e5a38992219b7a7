"""Hidden checks of notebook 1 (REINFORCE): random inputs, edge cases, comparison with the reference."""
from __future__ import annotations

import torch

from autograder.hidden.harness import Report, expect_same_gradients, gradients, hidden_check
from autograder.reference import reference
from course_lib.checks import CheckFailed, call, expect, expect_close, expect_tensor
from course_lib.networks import MLPActorCritic

NOTEBOOK = "01_policy_gradient"


def _random_episodes(gen: torch.Generator, shape: tuple, p_done: float = 0.2):
    rewards = torch.randn(shape, generator=gen)
    dones = (torch.rand(shape, generator=gen) < p_done).float()
    return rewards, dones


@hidden_check("discounted_returns")
def grade_discounted_returns(fn, report: Report) -> None:
    ref = reference(NOTEBOOK).discounted_returns
    gen = torch.Generator().manual_seed(2024)

    def compare(case, rewards, dones, gamma, hint):
        out = call(fn, rewards, dones, gamma, check_inplace=False)
        expect_close(out, ref(rewards.clone(), dones.clone(), gamma), case, hint,
                     inputs={"rewards": rewards, "dones": dones})

    boundary_hint = "the return must restart at every episode boundary: G_t = r_t + gamma * (1 - done_t) * G_{t+1}."
    r, d = _random_episodes(gen, (50,))
    report.check("random episodes, shape [T]", 1.0,
                 lambda: compare("50 random rewards with episode ends in the middle", r, d, 0.97, boundary_hint))
    r2, d2 = _random_episodes(gen, (40, 6))
    report.check("random episodes, shape [T, N]", 1.0,
                 lambda: compare("random [T=40, N=6] batch", r2, d2, 0.9,
                                 "treat each column (env) separately and loop backwards over time only."))
    r3, d3 = _random_episodes(gen, (30, 3), p_done=0.0)
    d3[-1] = 1.0
    d3[14] = 1.0
    report.check("an episode ends mid-batch", 0.5,
                 lambda: compare("two episodes per env, the first ending at t=14", r3, d3, 0.95, boundary_hint))
    report.check("one step (T = 1)", 0.5,
                 lambda: compare("a single step", torch.tensor([2.5]), torch.tensor([1.0]), 0.99,
                                 "with one step the return is just the reward."))
    report.check("gamma = 0 gives the rewards", 0.5,
                 lambda: compare("gamma = 0", r, d, 0.0, "with gamma = 0 only the immediate reward counts."))
    report.check("gamma = 1 sums the rewards to the episode end", 0.5,
                 lambda: compare("gamma = 1", r, d, 1.0, "with gamma = 1 the return is the plain sum up to the episode end."))

    def inputs_unchanged():
        rewards, dones = r2.clone(), d2.clone()
        fn(rewards, dones, 0.9)
        expect(torch.equal(rewards, r2) and torch.equal(dones, d2),
               "your function changed `rewards` or `dones` in place; build a new tensor for the returns.")
    report.check("inputs are not changed in place", 0.5, inputs_unchanged)


def _population_std(log_probs: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """The exercise's loss normalized with the population std (``std(unbiased=False)``, NumPy's
    default), which the exercise accepts as well as PyTorch's sample std."""
    returns = returns.detach()
    return -(log_probs * (returns - returns.mean()) / (returns.std(unbiased=False) + 1e-8)).mean()


@hidden_check("reinforce_loss")
def grade_reinforce_loss(fn, report: Report) -> None:
    ref = reference(NOTEBOOK).reinforce_loss
    variants = {"PyTorch's sample std": ref, "the population std": _population_std}
    gen = torch.Generator().manual_seed(7)
    log_probs = -torch.rand(64, generator=gen) * 2
    returns = torch.randn(64, generator=gen) * 20 + 50

    def loss_of(f, lp, ret):
        return call(f, lp, ret.clone(), check_inplace=False) if f is fn else f(lp, ret.clone())

    def loss_and_grad(f, lp, ret):
        lp = lp.clone().requires_grad_(True)
        loss = loss_of(f, lp, ret)
        expect(torch.is_tensor(loss), f"the loss should be a tensor, got {type(loss).__name__}.")
        expect(loss.dim() == 0, f"the loss should be a scalar (0-dim tensor), got shape {tuple(loss.shape)}: "
                                "average over the batch with `.mean()`.")
        expect(loss.requires_grad, "the loss has no gradient: build it from `log_probs` with torch operations.")
        loss.backward()
        return loss.detach().double(), lp.grad.detach()

    def scalar():
        loss, _ = loss_and_grad(fn, log_probs, returns)
        expect_tensor(loss, (), "the loss")
    report.check("returns a finite scalar with a gradient", 0.5, scalar)

    def value():
        loss, _ = loss_and_grad(fn, log_probs, returns)
        expected = {name: loss_and_grad(v, log_probs, returns)[0] for name, v in variants.items()}
        if any(torch.allclose(loss, e, rtol=1e-4, atol=1e-6) for e in expected.values()):
            return
        if any(torch.allclose(loss, -e, rtol=1e-3, atol=1e-5) for e in expected.values()):
            raise CheckFailed("the sign is flipped: gradient *descent* on your loss makes good actions less likely. "
                              "Return the negative of the objective.")
        expect_close(loss, expected["PyTorch's sample std"], "64 random log-probs and returns around 50",
                     atol=1e-4, rtol=1e-3,
                     hint="normalize the returns (subtract their mean, divide by their std + 1e-8; the sample or "
                          "the population std), multiply by the log-probs, average, and negate.")
    report.check("matches the reference loss", 1.0, value)

    def network_gradient():
        torch.manual_seed(11)
        net = MLPActorCritic(obs_dim=4, n_actions=3, hidden=8, critic=False)
        obs = torch.randn(32, 4)
        with torch.no_grad():
            actions = net(obs)[0].sample()
        ret = torch.randn(32) * 10 + 20

        def grads(f):
            dist, _ = net(obs)
            return gradients(loss_of(f, dist.log_prob(actions), ret), net)

        got = grads(fn)
        for variant in variants.values():
            want = grads(variant)
            if all(torch.allclose(got[n].double(), want[n].double(), rtol=1e-4, atol=1e-7) for n in want):
                return
        expect_same_gradients(got, grads(ref), "your loss on a small policy network (32 steps)",
                              silent={"": "no gradient reaches the policy network: the loss must be built from "
                                          "`log_probs` (which carry the gradient), not from detached copies."})
    report.check("gradient with respect to every parameter of a small policy network", 1.0, network_gradient,
                 gate=True)

    def gradient_direction():
        _, grad = loss_and_grad(fn, log_probs, returns)
        # Descent must raise the log-prob of above-average returns: gradient anti-correlated with returns.
        corr = torch.corrcoef(torch.stack([grad.double(), returns.double()]))[0, 1]
        expect(bool(corr < -0.99), "gradient descent on your loss should raise the log-probability of actions with "
                                   f"above-average return (correlation of gradient and return is {corr:.2f}, "
                                   "expected about -1). Check the sign and the baseline.")
    report.check("gradient favours high-return actions", 0.5, gradient_direction)

    def baseline():
        _, g1 = loss_and_grad(fn, log_probs, returns)
        _, g2 = loss_and_grad(fn, log_probs, returns + 1000.0)
        expect(torch.allclose(g1.double(), g2.double(), rtol=1e-3, atol=1e-5),
               "adding 1000 to every return changed your gradient: use a baseline (subtract the mean return) "
               "so only *relative* returns matter.")
    report.check("adding a constant to every return changes nothing (baseline)", 0.5, baseline)

    def returns_constant():
        ret = returns.clone().requires_grad_(True)
        lp = log_probs.clone().requires_grad_(True)
        call(fn, lp, ret, check_inplace=False).backward()
        expect(ret.grad is None or float(ret.grad.abs().max()) == 0.0,
               "gradient flows into the returns: they are targets, not parameters; use `returns.detach()`.")
    report.check("returns are treated as constants", 0.5, returns_constant)
