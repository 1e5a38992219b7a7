"""Hidden checks of notebook 2 (A2C): n-step targets on random [T, N] rollouts, and the A2C loss
with gradient checks on a tiny network."""

from __future__ import annotations

import torch

from autograder.hidden.harness import Checks, Context, expect_same_gradients, gradients
from autograder.reference import reference
from course_lib.checks import CheckFailed, call, expect, expect_close, expect_tensor
from course_lib.networks import MLPActorCritic

NOTEBOOK = "02_a2c"
BOUNDARY_HINT = (
    "after a *terminated* step nothing follows (0); after a *truncated* step use final_values[t]; "
    "otherwise continue with R_{t+1}."
)


def _rollout(gen: torch.Generator, T: int, N: int, p_term: float = 0.1, p_trunc: float = 0.05) -> dict:
    rewards = torch.randn(T, N, generator=gen)
    terminated = (torch.rand(T, N, generator=gen) < p_term).float()
    truncated = (torch.rand(T, N, generator=gen) < p_trunc).float() * (1 - terminated)
    final_values = torch.randn(T, N, generator=gen) * 5 * truncated
    last_value = torch.randn(N, generator=gen) * 5
    return dict(
        rewards=rewards, terminated=terminated, truncated=truncated, final_values=final_values, last_value=last_value
    )


class TargetsInputs(Context):
    """The rollouts the n-step target cases compare on, made once from one seeded generator."""

    ARGS = ("rewards", "terminated", "truncated", "final_values", "last_value")

    def __init__(self, fn):
        super().__init__(fn)
        self.ref = reference(NOTEBOOK).n_step_targets
        gen = torch.Generator().manual_seed(11)
        self.random = _rollout(gen, 20, 6)
        self.no_dones = _rollout(gen, 6, 3, p_term=0.0, p_trunc=0.0)
        self.mid = _rollout(gen, 8, 4, p_term=0.0, p_trunc=0.0)
        self.mid["terminated"][3] = 1.0
        self.trunc = _rollout(gen, 8, 4, p_term=0.0, p_trunc=0.0)
        self.trunc["truncated"][2] = 1.0
        self.trunc["final_values"][2] = torch.tensor([10.0, -4.0, 3.0, 7.0])
        self.last_done = _rollout(gen, 5, 3, p_term=0.0, p_trunc=0.0)
        self.last_done["terminated"][-1] = 1.0
        self.one = _rollout(gen, 1, 5)

    def compare(self, case: str, batch: dict, gamma: float, hint: str = BOUNDARY_HINT) -> None:
        out = call(self.fn, *(batch[a] for a in self.ARGS), gamma, check_inplace=False)
        expect_close(
            out,
            self.ref(*(batch[a].clone() for a in self.ARGS), gamma),
            case,
            hint,
            inputs={a: batch[a] for a in self.ARGS[:4]} | {"last_value": batch["last_value"]},
        )


targets_checks = Checks("n_step_targets", TargetsInputs)


@targets_checks.case("random [T=20, N=6] rollout with ends of both kinds", 1.5)
def random_rollout(c: TargetsInputs) -> None:
    c.compare("a random [20, 6] rollout", c.random, 0.99)


@targets_checks.case("bootstraps from V(last observation)", 0.5)
def bootstraps(c: TargetsInputs) -> None:
    c.compare(
        "a rollout with no episode end",
        c.no_dones,
        0.9,
        "the last step's target is r + gamma * last_value: the rollout stops, the episode does not.",
    )


@targets_checks.case("cut at a termination in the middle", 0.5)
def termination(c: TargetsInputs) -> None:
    c.compare(
        "every env terminated after step 3",
        c.mid,
        0.95,
        "after a terminated step the future is 0: do not carry R_{t+1} (or last_value) across it.",
    )


@targets_checks.case("bootstraps from final_values at a truncation", 0.5)
def truncation(c: TargetsInputs) -> None:
    c.compare(
        "every env truncated after step 2",
        c.trunc,
        0.95,
        "a truncated step (time limit) continues with gamma * final_values[t], the value of the real last "
        "observation, not with R_{t+1}.",
    )


@targets_checks.case("a last step that is done ignores last_value", 0.5)
def last_step(c: TargetsInputs) -> None:
    c.compare(
        "every env terminated at the last step",
        c.last_done,
        0.99,
        "last_value belongs to the *next* episode when the last step terminated.",
    )


@targets_checks.case("T = 1", 0.25)
def single_step(c: TargetsInputs) -> None:
    c.compare("a single step", c.one, 0.9)


@targets_checks.case("inputs are not changed in place", 0.25, gate=True)
def targets_unchanged(c: TargetsInputs) -> None:
    batch = {k: v.clone() for k, v in c.random.items()}
    c.fn(*(batch[a] for a in c.ARGS), 0.99)
    expect(
        all(torch.equal(batch[a], c.random[a]) for a in c.ARGS),
        "your function changed one of its inputs in place; build a new tensor for the targets.",
    )


grade_n_step_targets = targets_checks


def _tiny_batch(seed: int = 3, B: int = 32):
    torch.manual_seed(seed)
    model = MLPActorCritic(obs_dim=3, n_actions=4, hidden=8, shared=True)
    obs = torch.randn(B, 3)
    with torch.no_grad():
        # A peaked policy: far from uniform, where -log pi(sampled action) would equal the entropy
        # and an entropy step could not raise it.
        model.policy_head.weight.mul_(300.0)
        dist, values = model(obs)
        actions = dist.sample()
    targets = values + torch.randn(B)
    return model, obs, actions, targets


BROADCAST_HINT = (
    "your value loss mixes every target with every value: `targets` and `values` must both have shape "
    "[B] (a [B, 1] tensor broadcast against a [B] one makes a [B, B] matrix of differences)."
)


class LossInputs(Context):
    """A tiny actor-critic with a peaked policy, a batch of 32 steps and targets for it."""

    KEYS = ("loss", "policy_loss", "value_loss", "entropy")

    def __init__(self, fn):
        super().__init__(fn)
        self.ref = reference(NOTEBOOK).a2c_loss
        self.model, self.obs, self.actions, self.targets = _tiny_batch()

    def parts_of(self, f, value_coef=0.5, entropy_coef=0.01, tgt=None) -> dict:
        dist, values = self.model(self.obs)
        tgt = self.targets if tgt is None else tgt
        out = (
            call(f, dist, self.actions, values, tgt.clone(), value_coef, entropy_coef, check_inplace=False)
            if f is self.fn
            else f(dist, self.actions, values, tgt.clone(), value_coef, entropy_coef)
        )
        expect(isinstance(out, dict), f"a2c_loss should return a dict with keys {self.KEYS}, got {type(out).__name__}.")
        missing = [k for k in self.KEYS if k not in out]
        expect(not missing, f"the returned dict misses {missing}.")
        for k in self.KEYS:
            expect(torch.is_tensor(out[k]) and out[k].dim() == 0, f"'{k}' should be a scalar tensor.")
        return out

    def same(self, key: str, hint: str) -> None:
        out, expected = self.parts_of(self.fn), self.parts_of(self.ref)
        if key == "value_loss":
            with torch.no_grad():
                values = self.model(self.obs)[1]
                broadcast = (self.targets[:, None] - values[None, :]).pow(2).mean()
            if torch.allclose(out[key].detach().double(), broadcast.double(), rtol=1e-4):
                raise CheckFailed(BROADCAST_HINT)
        expect_close(out[key], expected[key].detach(), f"'{key}' on a batch of 32 steps", hint, atol=1e-4, rtol=1e-3)


loss_checks = Checks("a2c_loss", LossInputs)


@loss_checks.case("returns the four parts as finite scalars", 0.5)
def shape(c: LossInputs) -> None:
    out = c.parts_of(c.fn)
    for k in c.KEYS:
        expect_tensor(out[k], (), f"'{k}'")


@loss_checks.case("policy loss", 0.5)
def policy_loss(c: LossInputs) -> None:
    c.same("policy_loss", "-(log_prob(actions) * advantages).mean(), with advantages = targets - values, detached.")


@loss_checks.case("value loss", 0.5)
def value_loss(c: LossInputs) -> None:
    c.same("value_loss", "the mean of (targets - values)^2.")


@loss_checks.case("entropy of the policy distribution", 0.5)
def entropy(c: LossInputs) -> None:
    out = c.parts_of(c.fn)
    dist, _ = c.model(c.obs)
    sampled = -dist.log_prob(c.actions).mean()
    if torch.allclose(out["entropy"].detach().double(), sampled.detach().double(), atol=1e-4) and not torch.allclose(
        sampled, dist.entropy().mean(), atol=1e-4
    ):
        raise CheckFailed(
            "your entropy is -log_prob of the *sampled* actions: a noisy one-sample estimate. "
            "Use the distribution's exact entropy, `dist.entropy().mean()`."
        )
    expect_close(
        out["entropy"],
        dist.entropy().mean().detach(),
        "'entropy' on a batch of 32 steps",
        "the mean over the batch of the policy distribution's entropy: `dist.entropy().mean()`.",
        atol=1e-4,
    )


@loss_checks.case("loss combines the parts with the coefficients", 0.5)
def total(c: LossInputs) -> None:
    for value_coef, entropy_coef in [(0.5, 0.01), (0.25, 0.1)]:
        out = c.parts_of(c.fn, value_coef, entropy_coef)
        expected = out["policy_loss"] + value_coef * out["value_loss"] - entropy_coef * out["entropy"]
        expect_close(
            out["loss"],
            expected.detach(),
            f"'loss' with value_coef={value_coef}, entropy_coef={entropy_coef}",
            "loss = policy_loss + value_coef * value_loss - entropy_coef * entropy "
            "(minus: a higher entropy should *lower* the loss).",
            atol=1e-5,
        )


@loss_checks.case("gradient with respect to every parameter of a small actor-critic", 1.0, gate=True)
def network_gradient(c: LossInputs) -> None:
    for value_coef, entropy_coef in [(0.5, 0.01), (0.25, 0.1)]:
        out = c.parts_of(c.fn, value_coef, entropy_coef)
        case = f"your loss (value_coef={value_coef}, entropy_coef={entropy_coef}) on a small actor-critic"
        got = gradients(out["loss"], c.model)
        want = gradients(c.parts_of(c.ref, value_coef, entropy_coef)["loss"], c.model)
        if all(torch.allclose(got[n].double(), want[n].double(), rtol=1e-4, atol=1e-7) for n in want):
            continue
        policy_only = gradients(c.parts_of(c.fn)["policy_loss"], c.model) if out["policy_loss"].requires_grad else None
        expect(
            policy_only is not None
            and any(float(policy_only[n].abs().max()) > 0 for n in policy_only if n.startswith("policy_head")),
            "your policy loss sends no gradient into the policy: the log-probabilities must come from "
            "`dist.log_prob(actions)` with their gradient (detach the advantages, not the log-probs).",
        )
        expect_same_gradients(
            got,
            want,
            case,
            silent={
                "value_head": "your critic receives no gradient: the value loss must be built from `values` as they "
                "come (with their gradient); only the advantages in the policy loss are detached."
            },
        )


@loss_checks.case("the policy loss does not train the critic (advantages detached)", 0.75)
def advantages_detached(c: LossInputs) -> None:
    out = c.parts_of(c.fn)
    if not out["policy_loss"].requires_grad:  # no gradient at all: nothing leaks (the gradient check says more)
        return
    grads = torch.autograd.grad(out["policy_loss"], list(c.model.value_head.parameters()), allow_unused=True)
    leak = max(0.0 if g is None else float(g.abs().max()) for g in grads)
    expect(
        leak == 0.0,
        "your policy loss sends gradient into the critic (value head gradient "
        f"{leak:.2e}): the advantages must be constants, use `(targets - values).detach()`.",
    )


@loss_checks.case("minimizing the loss raises the entropy (bonus sign)", 0.75)
def entropy_raises_entropy(c: LossInputs) -> None:
    m, o, a, _ = _tiny_batch(seed=5)
    with torch.no_grad():
        _, v = m(o)
    before = m(o)[0].entropy().mean().item()
    opt = torch.optim.SGD(m.parameters(), lr=0.05)
    dist, values = m(o)  # targets = values: zero advantages, and value_coef = 0: only the entropy term acts
    out = call(c.fn, dist, a, values, v.clone(), 0.0, 1.0, check_inplace=False)
    expect(isinstance(out, dict) and torch.is_tensor(out.get("loss")), "return a dict with the loss, 'loss'.")
    expect(bool(torch.isfinite(out["loss"]).all()), f"your loss is {out['loss'].item()} (NaN or inf).")
    opt.zero_grad()
    out["loss"].backward()
    expect(
        all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in m.parameters()),
        "the gradient of your loss holds NaN or inf.",
    )
    opt.step()
    after = m(o)[0].entropy().mean().item()
    expect(
        after > before + 1e-4,
        f"minimizing your loss lowered the policy's entropy ({before:.4f} -> {after:.4f}): "
        "the entropy *bonus* is subtracted from the loss.",
    )


grade_a2c_loss = loss_checks
