"""Hidden checks of notebook 1 (REINFORCE): random inputs, edge cases, comparison with the reference."""

from __future__ import annotations

import torch

from autograder.hidden.harness import Checks, Context, expect_same_gradients, gradients
from autograder.reference import reference
from course_lib.checks import CheckFailed, call, expect, expect_close, expect_tensor
from course_lib.networks import MLPActorCritic

NOTEBOOK = "01_policy_gradient"


def _random_episodes(gen: torch.Generator, shape: tuple, p_done: float = 0.2):
    rewards = torch.randn(shape, generator=gen)
    dones = (torch.rand(shape, generator=gen) < p_done).float()
    return rewards, dones


class ReturnsInputs(Context):
    """Random episodes of several shapes, made once from one seeded generator."""

    def __init__(self, fn):
        super().__init__(fn)
        self.ref = reference(NOTEBOOK).discounted_returns
        gen = torch.Generator().manual_seed(2024)
        self.r, self.d = _random_episodes(gen, (50,))
        self.r2, self.d2 = _random_episodes(gen, (40, 6))
        self.r3, self.d3 = _random_episodes(gen, (30, 3), p_done=0.0)
        self.d3[-1] = 1.0
        self.d3[14] = 1.0

    def compare(self, case, rewards, dones, gamma, hint) -> None:
        out = call(self.fn, rewards, dones, gamma, check_inplace=False)
        expect_close(
            out,
            self.ref(rewards.clone(), dones.clone(), gamma),
            case,
            hint,
            inputs={"rewards": rewards, "dones": dones},
        )


BOUNDARY_HINT = "the return must restart at every episode boundary: G_t = r_t + gamma * (1 - done_t) * G_{t+1}."
returns_checks = Checks("discounted_returns", ReturnsInputs)


@returns_checks.case("random episodes, shape [T]", 1.0)
def episodes_1d(c: ReturnsInputs) -> None:
    c.compare("50 random rewards with episode ends in the middle", c.r, c.d, 0.97, BOUNDARY_HINT)


@returns_checks.case("random episodes, shape [T, N]", 1.0)
def episodes_2d(c: ReturnsInputs) -> None:
    c.compare(
        "random [T=40, N=6] batch",
        c.r2,
        c.d2,
        0.9,
        "treat each column (env) separately and loop backwards over time only.",
    )


@returns_checks.case("an episode ends mid-batch", 0.5)
def ends_mid_batch(c: ReturnsInputs) -> None:
    c.compare("two episodes per env, the first ending at t=14", c.r3, c.d3, 0.95, BOUNDARY_HINT)


@returns_checks.case("one step (T = 1)", 0.5)
def one_step(c: ReturnsInputs) -> None:
    c.compare(
        "a single step", torch.tensor([2.5]), torch.tensor([1.0]), 0.99, "with one step the return is just the reward."
    )


@returns_checks.case("gamma = 0 gives the rewards", 0.5)
def gamma_zero(c: ReturnsInputs) -> None:
    c.compare("gamma = 0", c.r, c.d, 0.0, "with gamma = 0 only the immediate reward counts.")


@returns_checks.case("gamma = 1 sums the rewards to the episode end", 0.5)
def gamma_one(c: ReturnsInputs) -> None:
    c.compare("gamma = 1", c.r, c.d, 1.0, "with gamma = 1 the return is the plain sum up to the episode end.")


@returns_checks.case("inputs are not changed in place", 0.5, gate=True)
def returns_unchanged(c: ReturnsInputs) -> None:
    rewards, dones = c.r2.clone(), c.d2.clone()
    c.fn(rewards, dones, 0.9)
    expect(
        torch.equal(rewards, c.r2) and torch.equal(dones, c.d2),
        "your function changed `rewards` or `dones` in place; build a new tensor for the returns.",
    )


grade_discounted_returns = returns_checks


def _population_std(log_probs: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """The exercise's loss normalized with the population std (``std(unbiased=False)``, NumPy's
    default), which the exercise accepts as well as PyTorch's sample std."""
    returns = returns.detach()
    return -(log_probs * (returns - returns.mean()) / (returns.std(unbiased=False) + 1e-8)).mean()


class LossInputs(Context):
    """64 random log-probabilities and returns around 50, and the accepted variants of the loss."""

    def __init__(self, fn):
        super().__init__(fn)
        self.ref = reference(NOTEBOOK).reinforce_loss
        self.variants = {"PyTorch's sample std": self.ref, "the population std": _population_std}
        gen = torch.Generator().manual_seed(7)
        self.log_probs = -torch.rand(64, generator=gen) * 2
        self.returns = torch.randn(64, generator=gen) * 20 + 50

    def loss_of(self, f, lp, ret):
        return call(f, lp, ret.clone(), check_inplace=False) if f is self.fn else f(lp, ret.clone())

    def loss_and_grad(self, f, lp, ret):
        lp = lp.clone().requires_grad_(True)
        loss = self.loss_of(f, lp, ret)
        expect(torch.is_tensor(loss), f"the loss should be a tensor, got {type(loss).__name__}.")
        expect(
            loss.dim() == 0,
            f"the loss should be a scalar (0-dim tensor), got shape {tuple(loss.shape)}: "
            "average over the batch with `.mean()`.",
        )
        expect(loss.requires_grad, "the loss has no gradient: build it from `log_probs` with torch operations.")
        loss.backward()
        return loss.detach().double(), lp.grad.detach()


loss_checks = Checks("reinforce_loss", LossInputs)


@loss_checks.case("returns a finite scalar with a gradient", 0.5)
def scalar(c: LossInputs) -> None:
    loss, _ = c.loss_and_grad(c.fn, c.log_probs, c.returns)
    expect_tensor(loss, (), "the loss")


@loss_checks.case("matches the reference loss", 1.0)
def value(c: LossInputs) -> None:
    loss, _ = c.loss_and_grad(c.fn, c.log_probs, c.returns)
    expected = {name: c.loss_and_grad(v, c.log_probs, c.returns)[0] for name, v in c.variants.items()}
    if any(torch.allclose(loss, e, rtol=1e-4, atol=1e-6) for e in expected.values()):
        return
    if any(torch.allclose(loss, -e, rtol=1e-3, atol=1e-5) for e in expected.values()):
        raise CheckFailed(
            "the sign is flipped: gradient *descent* on your loss makes good actions less likely. "
            "Return the negative of the objective."
        )
    expect_close(
        loss,
        expected["PyTorch's sample std"],
        "64 random log-probs and returns around 50",
        atol=1e-4,
        rtol=1e-3,
        hint="normalize the returns (subtract their mean, divide by their std + 1e-8; the sample or "
        "the population std), multiply by the log-probs, average, and negate.",
    )


@loss_checks.case("gradient with respect to every parameter of a small policy network", 1.0, gate=True)
def network_gradient(c: LossInputs) -> None:
    torch.manual_seed(11)
    net = MLPActorCritic(obs_dim=4, n_actions=3, hidden=8, critic=False)
    obs = torch.randn(32, 4)
    with torch.no_grad():
        actions = net(obs)[0].sample()
    ret = torch.randn(32) * 10 + 20

    def grads(f):
        dist, _ = net(obs)
        return gradients(c.loss_of(f, dist.log_prob(actions), ret), net)

    got = grads(c.fn)
    for variant in c.variants.values():
        want = grads(variant)
        if all(torch.allclose(got[n].double(), want[n].double(), rtol=1e-4, atol=1e-7) for n in want):
            return
    expect_same_gradients(
        got,
        grads(c.ref),
        "your loss on a small policy network (32 steps)",
        silent={
            "": "no gradient reaches the policy network: the loss must be built from "
            "`log_probs` (which carry the gradient), not from detached copies."
        },
    )


@loss_checks.case("gradient favours high-return actions", 0.5)
def gradient_direction(c: LossInputs) -> None:
    _, grad = c.loss_and_grad(c.fn, c.log_probs, c.returns)
    # Descent must raise the log-prob of above-average returns: gradient anti-correlated with returns.
    corr = torch.corrcoef(torch.stack([grad.double(), c.returns.double()]))[0, 1]
    expect(
        bool(corr < -0.99),
        "gradient descent on your loss should raise the log-probability of actions with "
        f"above-average return (correlation of gradient and return is {corr:.2f}, "
        "expected about -1). Check the sign and the baseline.",
    )


@loss_checks.case("adding a constant to every return changes nothing (baseline)", 0.5)
def baseline(c: LossInputs) -> None:
    _, g1 = c.loss_and_grad(c.fn, c.log_probs, c.returns)
    _, g2 = c.loss_and_grad(c.fn, c.log_probs, c.returns + 1000.0)
    expect(
        torch.allclose(g1.double(), g2.double(), rtol=1e-3, atol=1e-5),
        "adding 1000 to every return changed your gradient: use a baseline (subtract the mean return) "
        "so only *relative* returns matter.",
    )


@loss_checks.case("returns are treated as constants", 0.5)
def returns_constant(c: LossInputs) -> None:
    ret = c.returns.clone().requires_grad_(True)
    lp = c.log_probs.clone().requires_grad_(True)
    call(c.fn, lp, ret, check_inplace=False).backward()
    expect(
        ret.grad is None or float(ret.grad.abs().max()) == 0.0,
        "gradient flows into the returns: they are targets, not parameters; use `returns.detach()`.",
    )


grade_reinforce_loss = loss_checks
