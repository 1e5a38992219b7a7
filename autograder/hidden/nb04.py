"""Hidden checks of notebook 4 (GAE): random rollouts with ends of both kinds, T = 1, a last step
that is done, several (gamma, lambda), float64 inputs, inputs left alone; messages that show the
first wrong element and the flags around it."""
from __future__ import annotations

import torch

from autograder.hidden.harness import Report, hidden_check
from autograder.hidden.nb02 import _rollout
from autograder.reference import reference
from course_lib.checks import CheckFailed, call, expect, expect_close

NOTEBOOK = "04_gae"
ARGS = ("rewards", "values", "terminated", "truncated", "final_values", "last_value")
HINT = ("delta_t = r_t + gamma * V_next - V(s_t), V_next = 0 after a termination, final_values[t] after a truncation, "
        "values[t+1] (last_value at the end) otherwise; A_t = delta_t + gamma * lambda * A_{t+1}, restarting after any "
        "episode end.")


def _batch(gen: torch.Generator, T: int, N: int, **kwargs) -> dict:
    batch = _rollout(gen, T, N, **kwargs)
    batch["values"] = torch.randn(T, N, generator=gen) * 3
    return batch


@hidden_check("gae")
def grade_gae(fn, report: Report) -> None:
    ref = reference(NOTEBOOK).gae
    gen = torch.Generator().manual_seed(41)

    def compare(case: str, batch: dict, gamma: float, lam: float, hint: str = HINT):
        out = call(fn, *(batch[a] for a in ARGS), gamma, lam, check_inplace=False)
        expected = ref(*(batch[a].clone().float() for a in ARGS), gamma, lam)
        expect_close(out, expected, case, hint, atol=1e-4, rtol=1e-4,
                     inputs={a: batch[a] for a in ("rewards", "values", "terminated", "truncated", "final_values",
                                                   "last_value")})

    random_batch = _batch(gen, 24, 6)
    random_batch["truncated"][-1, 0], random_batch["terminated"][-1, 0] = 1.0, 0.0  # ends of both kinds at the end:
    random_batch["final_values"][-1, 0] = 15.0                                    # the time-limit rule there too
    random_batch["terminated"][-1, 1], random_batch["truncated"][-1, 1] = 1.0, 0.0
    report.check("random [T=24, N=6] rollout with ends of both kinds", 1.0,
                 lambda: compare("a random [24, 6] rollout, gamma 0.99, lambda 0.95", random_batch, 0.99, 0.95))

    def several_settings():
        for gamma, lam in [(0.9, 0.0), (0.99, 1.0), (0.97, 0.5), (1.0, 0.8)]:
            compare(f"a random [24, 6] rollout, gamma {gamma}, lambda {lam}", random_batch, gamma, lam,
                    HINT + (" With lambda = 0 each A_t is delta_t." if lam == 0 else "") +
                    (" With lambda = 1, R_t - V(s_t) (notebook 2's targets)." if lam == 1 else ""))
    report.check("several (gamma, lambda), the limits 0 and 1 included", 1.0, several_settings)

    term = _batch(gen, 10, 3, p_term=0.0, p_trunc=0.0)
    term["terminated"][4] = 1.0
    report.check("a termination stops the recursion and the bootstrap", 0.5,
                 lambda: compare("every env terminated after step 4", term, 0.95, 0.9,
                                 "after a terminated step V_next is 0, and A_{t+1} (the next episode's) is not added."))

    trunc = _batch(gen, 10, 3, p_term=0.0, p_trunc=0.0)
    trunc["truncated"][3] = 1.0
    trunc["final_values"][3] = torch.tensor([8.0, -5.0, 2.0])
    report.check("a truncation bootstraps from final_values and restarts", 0.5,
                 lambda: compare("every env truncated after step 3", trunc, 0.95, 0.9,
                                 "after a truncated step V_next is final_values[t] (not values[t+1], the next "
                                 "episode's first state), and A_{t+1} is not added."))

    last = _batch(gen, 6, 4, p_term=0.0, p_trunc=0.0)
    last["terminated"][-1] = 1.0
    last_truncated = _batch(gen, 6, 4, p_term=0.0, p_trunc=0.0)
    last_truncated["truncated"][-1] = 1.0
    last_truncated["final_values"][-1] = torch.tensor([9.0, -6.0, 3.0, 12.0])  # far from last_value
    report.check("a last step that is done ignores last_value; T = 1", 0.5, lambda: (
        compare("every env terminated at the last step", last, 0.99, 0.95,
                "last_value belongs to the next episode when the last step ended one."),
        compare("every env truncated at the last step", last_truncated, 0.99, 0.95,
                "a truncation at the last step bootstraps from final_values[T-1], the value of the real last "
                "observation; last_value is the next episode's first state."),
        compare("a single step", _batch(gen, 1, 5), 0.99, 0.95)))

    float64_batch = {k: v.double() for k, v in _batch(gen, 12, 4).items()}

    def float64():
        try:
            compare("a float64 rollout", float64_batch, 0.99, 0.95)
        except CheckFailed as failure:
            same_in_float32 = {k: v.float() for k, v in float64_batch.items()}
            try:
                compare("the same rollout in float32", same_in_float32, 0.99, 0.95)
            except CheckFailed:
                raise failure from None  # wrong in float32 too: the recursion, not the dtype (see the checks above)
            raise CheckFailed(f"{failure} Your gae is right on the same rollout in float32: work in the inputs' dtype, "
                              "or convert them to float32 (both are accepted).") from None
    report.check("float64 inputs", 0.25, float64)

    def unchanged():
        batch = {k: v.clone() for k, v in random_batch.items()}
        fn(*(batch[a] for a in ARGS), 0.99, 0.95)
        expect(all(torch.equal(batch[a], random_batch[a]) for a in ARGS),
               "your function changed one of its inputs in place; build a new tensor for the advantages.")
    report.check("inputs are not changed in place", 0.25, unchanged)
