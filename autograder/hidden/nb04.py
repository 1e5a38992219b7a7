"""Hidden checks of notebook 4 (GAE): random rollouts with ends of both kinds, T = 1, a last step
that is done, several (gamma, lambda), float64 inputs, inputs left alone; messages that show the
first wrong element and the flags around it."""

from __future__ import annotations

import torch

from autograder.hidden.harness import Checks, Context
from autograder.hidden.nb02 import _rollout
from autograder.reference import reference
from course_lib.checks import CheckFailed, call, expect, expect_close

NOTEBOOK = "04_gae"
ARGS = ("rewards", "values", "terminated", "truncated", "final_values", "last_value")
HINT = (
    "delta_t = r_t + gamma * V_next - V(s_t), V_next = 0 after a termination, final_values[t] after a truncation, "
    "values[t+1] (last_value at the end) otherwise; A_t = delta_t + gamma * lambda * A_{t+1}, restarting after any "
    "episode end."
)


def _batch(gen: torch.Generator, T: int, N: int, **kwargs) -> dict:
    batch = _rollout(gen, T, N, **kwargs)
    batch["values"] = torch.randn(T, N, generator=gen) * 3
    return batch


class GaeInputs(Context):
    """The rollouts every case compares on, made once per grading from one seeded generator (in
    this order: the cases' inputs do not depend on how the earlier cases went)."""

    def __init__(self, fn):
        super().__init__(fn)
        self.ref = reference(NOTEBOOK).gae
        gen = torch.Generator().manual_seed(41)
        self.random = _batch(gen, 24, 6)
        self.random["truncated"][-1, 0], self.random["terminated"][-1, 0] = 1.0, 0.0  # ends of both kinds at the
        self.random["final_values"][-1, 0] = 15.0  # end: the time-limit rule there too
        self.random["terminated"][-1, 1], self.random["truncated"][-1, 1] = 1.0, 0.0
        self.term = _batch(gen, 10, 3, p_term=0.0, p_trunc=0.0)
        self.term["terminated"][4] = 1.0
        self.trunc = _batch(gen, 10, 3, p_term=0.0, p_trunc=0.0)
        self.trunc["truncated"][3] = 1.0
        self.trunc["final_values"][3] = torch.tensor([8.0, -5.0, 2.0])
        self.last = _batch(gen, 6, 4, p_term=0.0, p_trunc=0.0)
        self.last["terminated"][-1] = 1.0
        self.last_truncated = _batch(gen, 6, 4, p_term=0.0, p_trunc=0.0)
        self.last_truncated["truncated"][-1] = 1.0
        self.last_truncated["final_values"][-1] = torch.tensor([9.0, -6.0, 3.0, 12.0])  # far from last_value
        self.single = _batch(gen, 1, 5)
        self.float64 = {k: v.double() for k, v in _batch(gen, 12, 4).items()}

    def compare(self, case: str, batch: dict, gamma: float, lam: float, hint: str = HINT) -> None:
        out = call(self.fn, *(batch[a] for a in ARGS), gamma, lam, check_inplace=False)
        expected = self.ref(*(batch[a].clone().float() for a in ARGS), gamma, lam)
        expect_close(out, expected, case, hint, atol=1e-4, rtol=1e-4, inputs={a: batch[a] for a in ARGS})


checks = Checks("gae", GaeInputs)


@checks.case("random [T=24, N=6] rollout with ends of both kinds", 1.0)
def random_rollout(c: GaeInputs) -> None:
    c.compare("a random [24, 6] rollout, gamma 0.99, lambda 0.95", c.random, 0.99, 0.95)


@checks.case("several (gamma, lambda), the limits 0 and 1 included", 1.0)
def several_settings(c: GaeInputs) -> None:
    for gamma, lam in [(0.9, 0.0), (0.99, 1.0), (0.97, 0.5), (1.0, 0.8)]:
        c.compare(
            f"a random [24, 6] rollout, gamma {gamma}, lambda {lam}",
            c.random,
            gamma,
            lam,
            HINT
            + (" With lambda = 0 each A_t is delta_t." if lam == 0 else "")
            + (" With lambda = 1, R_t - V(s_t) (notebook 2's targets)." if lam == 1 else ""),
        )


@checks.case("a termination stops the recursion and the bootstrap", 0.5)
def termination(c: GaeInputs) -> None:
    c.compare(
        "every env terminated after step 4",
        c.term,
        0.95,
        0.9,
        "after a terminated step V_next is 0, and A_{t+1} (the next episode's) is not added.",
    )


@checks.case("a truncation bootstraps from final_values and restarts", 0.5)
def truncation(c: GaeInputs) -> None:
    c.compare(
        "every env truncated after step 3",
        c.trunc,
        0.95,
        0.9,
        "after a truncated step V_next is final_values[t] (not values[t+1], the next episode's first state), "
        "and A_{t+1} is not added.",
    )


@checks.case("a last step that is done ignores last_value; T = 1", 0.5)
def last_step(c: GaeInputs) -> None:
    c.compare(
        "every env terminated at the last step",
        c.last,
        0.99,
        0.95,
        "last_value belongs to the next episode when the last step ended one.",
    )
    c.compare(
        "every env truncated at the last step",
        c.last_truncated,
        0.99,
        0.95,
        "a truncation at the last step bootstraps from final_values[T-1], the value of the real last "
        "observation; last_value is the next episode's first state.",
    )
    c.compare("a single step", c.single, 0.99, 0.95)


@checks.case("float64 inputs", 0.25)
def float64(c: GaeInputs) -> None:
    try:
        c.compare("a float64 rollout", c.float64, 0.99, 0.95)
    except CheckFailed as failure:
        try:
            c.compare("the same rollout in float32", {k: v.float() for k, v in c.float64.items()}, 0.99, 0.95)
        except CheckFailed:
            raise failure from None  # wrong in float32 too: the recursion, not the dtype (see the checks above)
        raise CheckFailed(
            f"{failure} Your gae is right on the same rollout in float32: work in the inputs' dtype, "
            "or convert them to float32 (both are accepted)."
        ) from None


@checks.case("inputs are not changed in place", 0.25, gate=True)
def unchanged(c: GaeInputs) -> None:
    batch = {k: v.clone() for k, v in c.random.items()}
    c.fn(*(batch[a] for a in ARGS), 0.99, 0.95)
    expect(
        all(torch.equal(batch[a], c.random[a]) for a in ARGS),
        "your function changed one of its inputs in place; build a new tensor for the advantages.",
    )


grade_gae = checks
