"""Hidden checks of notebook 3 (A3C): the shared optimizer, in one process and in two worker
processes taking turns, and the worker's update, against the reference, through course_lib's probes
(which run next to the student's code; the comparisons run here)."""
from __future__ import annotations

import contextlib
import io
from types import SimpleNamespace

import torch

from autograder.hidden import nb02
from autograder.hidden.harness import Report, hidden_check
from autograder.reference import reference
from course_lib import probes
from course_lib.checks import CheckFailed, expect, expect_close, run_probe
from course_lib.networks import MLPActorCritic

NOTEBOOK = "03_a3c"
ADAM_HINT = ("m and v with their betas, t + 1, then theta -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps), "
             "as torch.optim.Adam does.")


def _adam_trajectory(start, grads, lr):
    """torch.optim.Adam, one process, the same gradients: what one shared state must give."""
    params = [torch.nn.Parameter(p.clone()) for p in start]
    adam = torch.optim.Adam(params, lr=lr)
    out = []
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.clone()
        adam.step()
        out.append([p.detach().clone() for p in params])
    return out


def _entries(described: dict):
    """(name, entry) of every tensor or number the optimizer keeps: per parameter and as attributes."""
    for entries in described["per_param"]:
        yield from entries.items()
    yield from described["attributes"].items()


def _state_problems(described: dict) -> str | None:
    entries = list(_entries(described))
    not_tensors = sorted({name for name, e in entries if not e["tensor"]})
    if not_tensors:
        return (f"{not_tensors} kept as Python numbers: a worker's += changes its own copy only. Keep the step count "
                "in a tensor (shape ()) in shared memory, as torch's own Adam keeps it in a tensor.")
    not_shared = sorted({name for name, e in entries if not e["shared"]})
    if not_shared:
        return (f"{not_shared} not in shared memory: a worker started with fork updates a private copy. "
                "Call .share_memory_() on every state tensor in __init__.")
    return None


@hidden_check("SharedAdam")
def grade_shared_adam(fn, report: Report) -> None:
    gen = torch.Generator().manual_seed(31)
    start = [torch.randn(4, 3, generator=gen), torch.randn(3, generator=gen)]
    grads = [[torch.randn(4, 3, generator=gen), torch.randn(3, generator=gen)] for _ in range(6)]
    lr = 0.05
    expected = _adam_trajectory(start, grads, lr)
    runs = {}

    def one_process():
        return runs.setdefault("one", run_probe(probes.optimizer_steps, fn, start, grads, lr=lr))

    def matches_adam():
        out = one_process()
        for k, (mine, want) in enumerate(zip(out["trajectory"], expected)):
            for p, (m, w) in enumerate(zip(mine, want)):
                expect_close(m, w, f"parameter {p} after step {k + 1} (6 steps on two parameters, lr {lr}), "
                                   "against torch.optim.Adam", ADAM_HINT, atol=1e-5, rtol=1e-4)
    report.check("six steps equal torch.optim.Adam's, in one process", 1.5, matches_adam)

    def made_up_front():
        state = one_process()["state_before"]
        expect(all(state["per_param"]) or state["attributes"],
               "your optimizer has no state before its first step: a worker that steps first would create a "
               "private one. Create the moments and the step count in __init__, before any worker starts.")
        scalars = [name for name, e in _entries(state) if e["tensor"] and e["shape"] in ([], [1])]
        expect(scalars, "no step count among the state made in __init__: keep t in a tensor of shape () (per "
                        "parameter, or one for all) next to the moments.")
    report.check("the state, step count included, exists before the first step", 0.5, made_up_front)

    def shared_memory():
        state = one_process()["state_before"]
        expect(list(_entries(state)), "there is no state to share before the first step: make it in __init__.")
        problem = _state_problems(state)
        expect(problem is None, f"your optimizer's state: {problem}")
    report.check("every state tensor is in shared memory", 0.5, shared_memory)

    def two_workers():
        out = run_probe(probes.optimizer_in_workers, fn, start, grads, lr=lr, workers=2, start_method="fork")
        expect(not out["errors"], f"a worker failed: {out['errors'][:1]}")
        for p, (mine, want) in enumerate(zip(out["params"], expected[-1])):
            if not torch.allclose(mine.double(), want.double(), atol=1e-5, rtol=1e-4):
                problem = _state_problems(out["state_before"]) or (
                    "the workers did not share one state: make every moment and the step count in __init__, "
                    "as tensors in shared memory, and update them in place in step() (+=, mul_, add_), never "
                    "by assigning a new tensor (state['step'] = state['step'] + 1 makes a private one).")
                raise CheckFailed("two worker processes took turns stepping your optimizer (six steps in all), and "
                                  f"parameter {p} ended up away from one process doing all six steps: {problem}")
    report.check("two worker processes see and advance one shared state", 1.5, two_workers)


def _update_case(seed: int = 4):
    """A small shared model, a local copy that has fallen behind it (the weights that collected
    the rollout), a rollout of CartPole with an episode end in it, and the settings."""
    from course_lib import envs, runners

    torch.manual_seed(seed)
    kwargs = dict(obs_dim=4, n_actions=2, hidden=16)
    local = MLPActorCritic(**kwargs)
    shared = MLPActorCritic(**kwargs)
    with torch.no_grad():
        for s, loc in zip(shared.parameters(), local.parameters()):
            s.copy_(loc + 0.05 * torch.randn_like(loc))  # other workers moved the shared model meanwhile
    batch = runners.RolloutRunner(envs.make_cartpole_vec(1, seed=seed), local, num_steps=40, seed=seed).collect()
    cfg = SimpleNamespace(gamma=0.99, value_coef=0.5, entropy_coef=0.01, max_grad_norm=0.5)
    return kwargs, dict(shared.state_dict()), dict(local.state_dict()), probes.rollout_fields(batch), cfg


def _helpers_right(n_step_targets, a2c_loss) -> bool:
    """The student's notebook-2 functions pass notebook 2's hidden checks (run silently)."""
    if n_step_targets is None or a2c_loss is None:
        return False
    with contextlib.redirect_stdout(io.StringIO()):
        return nb02.grade_n_step_targets(n_step_targets) == 4.0 and nb02.grade_a2c_loss(a2c_loss) == 4.0


@hidden_check("a3c_update")
def grade_a3c_update(fn, report: Report, n_step_targets=None, a2c_loss=None) -> None:
    ref = reference(NOTEBOOK).a3c_update
    lr = 0.1
    case = _update_case()
    want = probes.one_update(ref, *case, lr=lr)
    runs: dict = {}

    def got():  # the student's update, run once, inside the first check that needs it
        return runs.setdefault("got", run_probe(probes.one_update, fn, *case, lr=lr))

    helpers = "" if _helpers_right(n_step_targets, a2c_loss) else (
        " Your n_step_targets or a2c_loss (pasted from notebook 2) do not pass notebook 2's checks: fix them "
        "first, this update is built on them.")

    def handed_over():
        grads = got()["shared_grads"]
        expect(any(g is not None and float(g.abs().max()) > 0 for g in grads.values()),
               "the shared model received no gradient: set each shared parameter's .grad to a copy of the local "
               "parameter's .grad before optimizer.step()." + helpers)
        for name, expected in want["shared_grads"].items():
            expect_close(grads[name] if grads[name] is not None else torch.zeros_like(expected), expected,
                         f"the gradient handed to shared `{name}` (40 steps of CartPole, local weights behind the "
                         "shared ones)", "the gradient of notebook 2's loss at the *local* model's weights (they "
                         "collected the rollout), clipped to max_grad_norm, copied to the shared parameters."
                         + helpers, atol=1e-6, rtol=1e-4)
    report.check("hands the local model's (clipped) gradients to the shared model", 1.5, handed_over, gate=True)

    def stepped():
        for name, expected in want["shared"].items():
            expect_close(got()["shared"][name], expected, f"shared `{name}` after the update",
                         "one step of the shared optimizer, after the gradients are handed over." + helpers,
                         atol=1e-6, rtol=1e-4)
    report.check("steps the shared optimizer once", 1.0, stepped)

    def refreshed():
        for name, shared in got()["shared"].items():
            if not torch.allclose(got()["local"][name], shared):
                raise CheckFailed("after the update the local model still has its old weights: load the shared "
                                  "weights into it (local_model.load_state_dict(shared_model.state_dict())), or the "
                                  "worker keeps acting with weights that miss every other worker's updates.")
    report.check("refreshes the local model with the shared weights", 1.0, refreshed)

    def returns_parts():
        logs = got()["logs"]
        expect(isinstance(logs, dict) and {"loss", "policy_loss", "value_loss", "entropy"} <= set(logs),
               "return the loss parts as a dict of floats: {name: part.item() for name, part in parts.items()}.")
        expect(all(isinstance(logs[k], float) for k in ("loss", "policy_loss", "value_loss", "entropy")),
               "the returned parts should be plain floats (.item()), not tensors.")
    report.check("returns the loss parts as floats", 0.5, returns_parts)
