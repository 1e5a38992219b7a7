"""Hidden checks of notebook 2 (A2C): n-step targets on random [T, N] rollouts, and the A2C loss
with gradient checks on a tiny network."""
from __future__ import annotations

import torch

from autograder.hidden.harness import Report, expect_same_gradients, gradients, hidden_check
from autograder.reference import reference
from course_lib.checks import CheckFailed, call, expect, expect_close, expect_tensor
from course_lib.networks import MLPActorCritic

NOTEBOOK = "02_a2c"
BOUNDARY_HINT = ("after a *terminated* step nothing follows (0); after a *truncated* step use final_values[t]; "
                 "otherwise continue with R_{t+1}.")


def _rollout(gen: torch.Generator, T: int, N: int, p_term: float = 0.1, p_trunc: float = 0.05) -> dict:
    rewards = torch.randn(T, N, generator=gen)
    terminated = (torch.rand(T, N, generator=gen) < p_term).float()
    truncated = (torch.rand(T, N, generator=gen) < p_trunc).float() * (1 - terminated)
    final_values = torch.randn(T, N, generator=gen) * 5 * truncated
    last_value = torch.randn(N, generator=gen) * 5
    return dict(rewards=rewards, terminated=terminated, truncated=truncated, final_values=final_values,
                last_value=last_value)


@hidden_check("n_step_targets")
def grade_n_step_targets(fn, report: Report) -> None:
    ref = reference(NOTEBOOK).n_step_targets
    gen = torch.Generator().manual_seed(11)
    args = ("rewards", "terminated", "truncated", "final_values", "last_value")

    def compare(case: str, batch: dict, gamma: float, hint: str = BOUNDARY_HINT):
        out = call(fn, *(batch[a] for a in args), gamma, check_inplace=False)
        expect_close(out, ref(*(batch[a].clone() for a in args), gamma), case, hint,
                     inputs={a: batch[a] for a in args[:4]} | {"last_value": batch["last_value"]})

    random_batch = _rollout(gen, 20, 6)
    report.check("random [T=20, N=6] rollout with ends of both kinds", 1.5,
                 lambda: compare("a random [20, 6] rollout", random_batch, 0.99))

    no_dones = _rollout(gen, 6, 3, p_term=0.0, p_trunc=0.0)
    report.check("bootstraps from V(last observation)", 0.5,
                 lambda: compare("a rollout with no episode end", no_dones, 0.9,
                                 "the last step's target is r + gamma * last_value: the rollout stops, the episode does not."))

    mid = _rollout(gen, 8, 4, p_term=0.0, p_trunc=0.0)
    mid["terminated"][3] = 1.0
    report.check("cut at a termination in the middle", 0.5,
                 lambda: compare("every env terminated after step 3", mid, 0.95,
                                 "after a terminated step the future is 0: do not carry R_{t+1} (or last_value) across it."))

    trunc = _rollout(gen, 8, 4, p_term=0.0, p_trunc=0.0)
    trunc["truncated"][2] = 1.0
    trunc["final_values"][2] = torch.tensor([10.0, -4.0, 3.0, 7.0])
    report.check("bootstraps from final_values at a truncation", 0.5,
                 lambda: compare("every env truncated after step 2", trunc, 0.95,
                                 "a truncated step (time limit) continues with gamma * final_values[t], "
                                 "the value of the real last observation, not with R_{t+1}."))

    last_done = _rollout(gen, 5, 3, p_term=0.0, p_trunc=0.0)
    last_done["terminated"][-1] = 1.0
    report.check("a last step that is done ignores last_value", 0.5,
                 lambda: compare("every env terminated at the last step", last_done, 0.99,
                                 "last_value belongs to the *next* episode when the last step terminated."))

    one = _rollout(gen, 1, 5)
    report.check("T = 1", 0.25, lambda: compare("a single step", one, 0.9))

    def unchanged():
        batch = {k: v.clone() for k, v in random_batch.items()}
        fn(*(batch[a] for a in args), 0.99)
        expect(all(torch.equal(batch[a], random_batch[a]) for a in args),
               "your function changed one of its inputs in place; build a new tensor for the targets.")
    report.check("inputs are not changed in place", 0.25, unchanged)


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


BROADCAST_HINT = ("your value loss mixes every target with every value: `targets` and `values` must both have shape "
                  "[B] (a [B, 1] tensor broadcast against a [B] one makes a [B, B] matrix of differences).")


@hidden_check("a2c_loss")
def grade_a2c_loss(fn, report: Report) -> None:
    ref = reference(NOTEBOOK).a2c_loss
    model, obs, actions, targets = _tiny_batch()
    keys = ("loss", "policy_loss", "value_loss", "entropy")

    def parts_of(f, value_coef=0.5, entropy_coef=0.01, tgt=None):
        dist, values = model(obs)
        tgt = targets if tgt is None else tgt
        out = call(f, dist, actions, values, tgt.clone(), value_coef, entropy_coef, check_inplace=False) \
            if f is fn else f(dist, actions, values, tgt.clone(), value_coef, entropy_coef)
        expect(isinstance(out, dict), f"a2c_loss should return a dict with keys {keys}, got {type(out).__name__}.")
        missing = [k for k in keys if k not in out]
        expect(not missing, f"the returned dict misses {missing}.")
        for k in keys:
            expect(torch.is_tensor(out[k]) and out[k].dim() == 0, f"'{k}' should be a scalar tensor.")
        return out

    def shape():
        out = parts_of(fn)
        for k in keys:
            expect_tensor(out[k], (), f"'{k}'")
    report.check("returns the four parts as finite scalars", 0.5, shape)

    def same(key, hint):
        def run():
            out, expected = parts_of(fn), parts_of(ref)
            if key == "value_loss":
                with torch.no_grad():
                    values = model(obs)[1]
                    broadcast = (targets[:, None] - values[None, :]).pow(2).mean()
                if torch.allclose(out[key].detach().double(), broadcast.double(), rtol=1e-4):
                    raise CheckFailed(BROADCAST_HINT)
            expect_close(out[key], expected[key].detach(), f"'{key}' on a batch of 32 steps", hint, atol=1e-4, rtol=1e-3)
        return run

    report.check("policy loss", 0.5, same("policy_loss", "-(log_prob(actions) * advantages).mean(), with "
                                                         "advantages = targets - values, detached."))
    report.check("value loss", 0.5, same("value_loss", "the mean of (targets - values)^2."))

    def entropy():
        out = parts_of(fn)
        dist, _ = model(obs)
        sampled = -dist.log_prob(actions).mean()
        if torch.allclose(out["entropy"].detach().double(), sampled.detach().double(), atol=1e-4) and \
                not torch.allclose(sampled, dist.entropy().mean(), atol=1e-4):
            raise CheckFailed("your entropy is -log_prob of the *sampled* actions: a noisy one-sample estimate. "
                              "Use the distribution's exact entropy, `dist.entropy().mean()`.")
        expect_close(out["entropy"], dist.entropy().mean().detach(), "'entropy' on a batch of 32 steps",
                     "the mean over the batch of the policy distribution's entropy: `dist.entropy().mean()`.", atol=1e-4)
    report.check("entropy of the policy distribution", 0.5, entropy)

    def total():
        for value_coef, entropy_coef in [(0.5, 0.01), (0.25, 0.1)]:
            out = parts_of(fn, value_coef, entropy_coef)
            expected = out["policy_loss"] + value_coef * out["value_loss"] - entropy_coef * out["entropy"]
            expect_close(out["loss"], expected.detach(), f"'loss' with value_coef={value_coef}, entropy_coef={entropy_coef}",
                         "loss = policy_loss + value_coef * value_loss - entropy_coef * entropy "
                         "(minus: a higher entropy should *lower* the loss).", atol=1e-5)
    report.check("loss combines the parts with the coefficients", 0.5, total)

    def network_gradient():
        for value_coef, entropy_coef in [(0.5, 0.01), (0.25, 0.1)]:
            out = parts_of(fn, value_coef, entropy_coef)
            case = f"your loss (value_coef={value_coef}, entropy_coef={entropy_coef}) on a small actor-critic"
            got = gradients(out["loss"], model)
            want = gradients(parts_of(ref, value_coef, entropy_coef)["loss"], model)
            if all(torch.allclose(got[n].double(), want[n].double(), rtol=1e-4, atol=1e-7) for n in want):
                continue
            policy_only = gradients(parts_of(fn)["policy_loss"], model) if out["policy_loss"].requires_grad else None
            expect(policy_only is not None and any(float(policy_only[n].abs().max()) > 0 for n in policy_only
                                                   if n.startswith("policy_head")),
                   "your policy loss sends no gradient into the policy: the log-probabilities must come from "
                   "`dist.log_prob(actions)` with their gradient (detach the advantages, not the log-probs).")
            expect_same_gradients(got, want, case, silent={
                "value_head": "your critic receives no gradient: the value loss must be built from `values` as they "
                              "come (with their gradient); only the advantages in the policy loss are detached."})
    report.check("gradient with respect to every parameter of a small actor-critic", 1.0, network_gradient, gate=True)

    def advantages_detached():
        out = parts_of(fn)
        if not out["policy_loss"].requires_grad:  # no gradient at all: nothing leaks (the gradient check says more)
            return
        grads = torch.autograd.grad(out["policy_loss"], list(model.value_head.parameters()), allow_unused=True)
        leak = max(0.0 if g is None else float(g.abs().max()) for g in grads)
        expect(leak == 0.0, "your policy loss sends gradient into the critic (value head gradient "
                            f"{leak:.2e}): the advantages must be constants, use `(targets - values).detach()`.")
    report.check("the policy loss does not train the critic (advantages detached)", 0.75, advantages_detached)
    def entropy_raises_entropy():
        m, o, a, _ = _tiny_batch(seed=5)
        with torch.no_grad():
            _, v = m(o)
        before = m(o)[0].entropy().mean().item()
        opt = torch.optim.SGD(m.parameters(), lr=0.05)
        dist, values = m(o)  # targets = values: zero advantages, and value_coef = 0: only the entropy term acts
        out = call(fn, dist, a, values, v.clone(), 0.0, 1.0, check_inplace=False)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        after = m(o)[0].entropy().mean().item()
        expect(after > before + 1e-4, f"minimizing your loss lowered the policy's entropy ({before:.4f} -> {after:.4f}): "
                                      "the entropy *bonus* is subtracted from the loss.")
    report.check("minimizing the loss raises the entropy (bonus sign)", 0.75, entropy_raises_entropy)
