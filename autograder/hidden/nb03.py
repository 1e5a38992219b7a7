"""Hidden checks of notebook 3 (A3C): the shared optimizer and the worker's update.

Everything is measured on a bench (``course_lib.bench``): in the grader from outside the student's
process, the parameters and the optimizer's state read in its shared memory; in a kernel (an
instructor's solution notebook) the same quantities, read here. The shared optimizer is
checked against torch's Adam in one process, for a state made up front in shared memory under
torch's names, and with the scorer as a second worker: it steps the shared state in turn with the
student's optimizer, so that a state that is not really shared (private, lazily made, assigned
anew, a step count kept elsewhere) shows. The worker's update runs three times in a row on a
small actor-critic moved away from its initialisation, the shared model moved by "other workers"
between the calls; it is scored with the course's own n-step targets and A2C loss standing in for
the pasted ones (``STAND_INS``), which are reported on apart.
"""

from __future__ import annotations

import contextlib
import io
import math
from types import SimpleNamespace

import torch

from autograder.hidden import nb02
from autograder.hidden.cases import MODEL, WEIGHT_DECAY, cartpole_rollouts, trained_looking
from autograder.hidden.harness import Checks, Context
from autograder.reference import reference
from course_lib import probes
from course_lib.bench import Bench, bench_for
from course_lib.checks import CheckFailed, expect, expect_close, number, run_probe
from course_lib.networks import MLPActorCritic
from course_lib.probes import applied
from course_lib.runners import Rollout

NOTEBOOK = "03_a3c"
STAND_INS = {"a3c_update": ("n_step_targets", "a2c_loss")}  # scored with the course's versions of these
ADAM_HINT = (
    "m and v with their betas, t + 1, then theta -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps), "
    "as torch.optim.Adam does."
)
NAMES = ("step", "exp_avg", "exp_avg_sq")
BETAS, EPS = (0.9, 0.999), 1e-8
SHARING_CAP = 0.25  # a shared optimizer whose state is not shared, or an update that breaks A3C, keeps at most this


# --------------------------------------------------------------------------- SharedAdam
def _adam(start, grads, lr):
    """torch.optim.Adam in one process: the parameters and the state after every step."""
    params = [torch.nn.Parameter(p.clone().double()) for p in start]
    adam = torch.optim.Adam(params, lr=lr, betas=BETAS, eps=EPS)
    out = []
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.clone().double()
        adam.step()
        out.append(
            {
                "params": [p.detach().clone() for p in params],
                "state": [
                    {
                        "step": float(adam.state[p]["step"]),
                        "exp_avg": adam.state[p]["exp_avg"].clone(),
                        "exp_avg_sq": adam.state[p]["exp_avg_sq"].clone(),
                    }
                    for p in params
                ],
            }
        )
    return out


def _variants(start, grads, lr) -> dict[str, list]:
    """Typical mistakes of an Adam step, to name the one a trajectory matches."""
    b1, b2 = BETAS

    def run(rule):
        params = [p.clone().double() for p in start]
        m = [torch.zeros_like(p) for p in params]
        v = [torch.zeros_like(p) for p in params]
        out = []
        for t, step_grads in enumerate(grads, start=1):
            for i, g in enumerate(step_grads):
                g = g.double()
                m[i] = b1 * m[i] + (1 - b1) * g
                v[i] = b2 * v[i] + (1 - b2) * g * g
                params[i] = params[i] - rule(m[i], v[i], t)
            out.append([p.clone() for p in params])
        return out

    return {
        "no bias correction (theta -= lr * m / (sqrt(v) + eps))": run(lambda m, v, t: lr * m / (v.sqrt() + EPS)),
        "the bias correction of m only": run(lambda m, v, t: lr / (1 - b1**t) * m / (v.sqrt() + EPS)),
        "the bias correction of v only": run(lambda m, v, t: lr * m / (v.sqrt() / math.sqrt(1 - b2**t) + EPS)),
        "the step's sign flipped (theta += ...)": run(
            lambda m, v, t: -lr / (1 - b1**t) * m / (v.sqrt() / math.sqrt(1 - b2**t) + EPS)
        ),
        "the step count t + 1 in the bias correction (one step ahead)": run(
            lambda m, v, t: lr / (1 - b1 ** (t + 1)) * m / (v.sqrt() / math.sqrt(1 - b2 ** (t + 1)) + EPS)
        ),
    }


def _matches(trajectory, expected) -> bool:
    return all(
        torch.allclose(mine.double(), want.double(), atol=1e-5, rtol=1e-4)
        for step_mine, step_want in zip(trajectory, expected)
        for mine, want in zip(step_mine, step_want)
    )


def _entries(state: dict, names=NAMES) -> list[dict]:
    """For each parameter, its state entries by name (what ``Bench.state`` found)."""
    return [{n: entries.get(n) for n in names} for entries in state["per_param"]]


def _state_problem(state: dict) -> str | None:
    """What is wrong with an optimizer's state (seen from outside) for A3C, or None."""
    per_param = state["per_param"]
    if not any(per_param) and not state["attributes"]:
        return (
            "your optimizer has no state before its first step: a worker that steps first would create a private "
            "one. Create the moments and the step count in __init__, before any worker starts."
        )
    not_tensors = sorted(
        {name for entries in per_param for name, e in entries.items() if not e["tensor"]}
        | {name for name, e in state["attributes"].items() if not e["tensor"]}
    )
    if not_tensors:
        return (
            f"{not_tensors} kept as Python numbers: a worker's += changes its own copy only. Keep the step count "
            "in a tensor (shape ()) in shared memory, as torch's own Adam keeps it in a tensor."
        )
    not_shared = sorted({name for entries in per_param for name, e in entries.items() if not e["shared"]})
    if not_shared:
        return (
            f"{not_shared} not in shared memory: a worker started with fork updates a private copy. "
            "Call .share_memory_() on every state tensor in __init__."
        )
    missing = sorted({n for entries in per_param for n in NAMES if n not in entries})
    if missing:
        found = sorted({n for entries in per_param for n in entries})
        return (
            f"no state['{missing[0]}'] (found {found}): keep the state under torch.optim.Adam's names, "
            "state['step'], state['exp_avg'] and state['exp_avg_sq'], so that every worker finds it."
        )
    return None


def _other_worker_step(bench: Bench, entries: list[dict], files: list[str], shapes, grads, lr: float) -> None:
    """One Adam step taken by another process (the scorer) on the shared memory: read the
    parameters, moments and step counts there, update them, write them back."""
    b1, b2 = BETAS
    counters: dict = {}
    for i, (found, g) in enumerate(zip(entries, grads)):
        where = found["step"]["where"]
        if where not in counters:  # one step count for every parameter, if they share one tensor
            counters[where] = float(bench.read_entry(found["step"]).reshape(-1)[0]) + 1
            bench.write_entry(found["step"], torch.full(found["step"]["shape"], counters[where]))
        t = counters[where]
        g = g.double()
        m = b1 * bench.read_entry(found["exp_avg"]).double() + (1 - b1) * g
        v = b2 * bench.read_entry(found["exp_avg_sq"]).double() + (1 - b2) * g * g
        p = bench.read_slot(files[i], shapes[i]).double()
        p = p - lr / (1 - b1**t) * m / (v.sqrt() / math.sqrt(1 - b2**t) + EPS)
        bench.write_entry(found["exp_avg"], m)
        bench.write_entry(found["exp_avg_sq"], v)
        bench.write_slot(files[i], p)


class AdamInputs(Context):
    """Two parameters, six steps of gradients, and torch's Adam on them (the reference's trajectory)."""

    def __init__(self, fn):
        super().__init__(fn)
        gen = torch.Generator().manual_seed(31)
        self.start = [torch.randn(4, 3, generator=gen), torch.randn(3, generator=gen)]
        self.grads = [[torch.randn(4, 3, generator=gen), torch.randn(3, generator=gen)] for _ in range(6)]
        self.lr = 0.05
        self.expected = _adam(self.start, self.grads, self.lr)
        self.adam_passed = False  # the first case says whether the student's rule is Adam's
        self._one = None

    def one_process(self) -> dict:
        """Six steps of the student's optimizer in one process, measured from outside (run once)."""
        if self._one is None:
            self._one = run_probe(probes.optimizer_steps, self.fn, self.start, self.grads, lr=self.lr)
        return self._one


adam_checks = Checks("SharedAdam", AdamInputs)


@adam_checks.case("six steps equal torch.optim.Adam's, in one process", 1.5)
def matches_adam(c: AdamInputs) -> None:
    out = c.one_process()
    if not _matches(out["trajectory"], [e["params"] for e in c.expected]):
        for mistake, trajectory in _variants(c.start, c.grads, c.lr).items():
            if _matches(out["trajectory"], trajectory):
                raise CheckFailed(
                    f"six steps on two parameters (lr {c.lr}) give what Adam gives with {mistake}, "
                    f"not torch.optim.Adam's steps. {ADAM_HINT}"
                )
        for k, (mine, want) in enumerate(zip(out["trajectory"], c.expected)):
            for p, (m, w) in enumerate(zip(mine, want["params"])):
                expect_close(
                    m,
                    w,
                    f"parameter {p} after step {k + 1} (6 steps on two parameters, lr {c.lr}), against "
                    "torch.optim.Adam",
                    ADAM_HINT,
                    atol=1e-5,
                    rtol=1e-4,
                )
    c.adam_passed = True


@adam_checks.case(
    "the state (step, exp_avg, exp_avg_sq) is made in __init__, as tensors in shared memory", 1.0, gate=SHARING_CAP
)
def made_up_front(c: AdamInputs) -> None:
    problem = _state_problem(c.one_process()["state_before"])
    expect(problem is None, f"your optimizer's state before its first step: {problem}")
    for i, entries in enumerate(_entries(c.one_process()["state_before"])):
        for name in NAMES:
            expect(
                bool(torch.all(entries[name]["value"] == 0)),
                f"parameter {i}'s state['{name}'] does not start at 0 (found in shared memory: "
                f"{entries[name]['value'].flatten()[:4].tolist()}).",
            )
        expect(entries["step"]["shape"] in ([], [1]), "state['step'] should be one number (a tensor of shape ()).")


@adam_checks.case(
    "another worker's steps and yours update one state (the grader steps it in turn with yours)", 1.5, gate=SHARING_CAP
)
def with_another_worker(c: AdamInputs) -> None:
    bench = bench_for(c.fn)
    params, files = bench.parameters(c.start)
    shapes = [list(p.shape) for p in c.start]
    optimizer = bench.make(params, lr=c.lr)
    state = bench.state(optimizer, params)
    problem = _state_problem(state)
    expect(problem is None, f"another worker could not step your optimizer's state before your first step: {problem}")
    entries = _entries(state)
    for k, step_grads in enumerate(c.grads):
        yours = k % 2 == 1  # the other worker (this grader) steps first, then yours, in turn
        if not yours:
            _other_worker_step(bench, entries, files, shapes, step_grads, c.lr)
            continue
        bench.run("step_with", optimizer, params, [g.float() for g in step_grads])
        for i, found in enumerate(entries):
            want = c.expected[k]["state"][i]
            t = float(bench.read_entry(found["step"]).reshape(-1)[0])
            if abs(t - want["step"]) > 1e-6:
                raise CheckFailed(
                    f"after your step {k + 1} (the other worker took steps 1, 3, ...), the shared state['step'] of "
                    f"parameter {i} is {t:g}, not {want['step']:g}: "
                    + (
                        "your step() did not add 1 to it. Count in the shared tensor itself (state['step'] += 1), "
                        "not in a number or a tensor of your own: the bias correction of every worker needs the "
                        "count of all the steps."
                        if t == want["step"] - 1
                        else "your step() does not count from what the other worker left there: update the shared "
                        "tensor in place (+=), never assign a new one."
                    )
                )
            for name in ("exp_avg", "exp_avg_sq"):
                got = bench.read_entry(found[name]).double()
                if not torch.allclose(got, want[name], atol=1e-6, rtol=1e-4):
                    raise CheckFailed(
                        f"after your step {k + 1} (the other worker took steps 1, 3, ...), the shared "
                        f"state['{name}'] of parameter {i} is not the moment of all {k + 1} gradients: your step() "
                        "does not update the shared tensors in place from what the other worker left there. Use "
                        "in-place operations on the state's tensors (mul_, add_, addcmul_), never "
                        f"state['{name}'] = ... (a new, private tensor)."
                    )
    if c.adam_passed:
        final = [bench.read_slot(f, s) for f, s in zip(files, shapes)]
        for p, (mine, want) in enumerate(zip(final, c.expected[-1]["params"])):
            expect_close(
                mine,
                want,
                f"parameter {p} after six steps taken in turn by the other worker and yours",
                "the moments are shared, but the step is not the one Adam takes with them: the bias "
                "correction must use the shared step count, state['step'].",
                atol=1e-5,
                rtol=1e-4,
            )


grade_shared_adam = adam_checks


# --------------------------------------------------------------------------- a3c_update
CFG = SimpleNamespace(gamma=0.99, value_coef=0.5, entropy_coef=0.01, max_grad_norm=0.5)
CALLS = 3


def _update_case(seed: int = 4):
    """The shared model, a local copy that has fallen behind it, three rollouts, and the moves the
    other workers make to the shared model between the calls."""
    shared = trained_looking(seed)
    local = MLPActorCritic(**MODEL)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for s, loc in zip(shared.parameters(), local.parameters()):
            loc.copy_(s - 0.05 * torch.randn(s.shape, generator=gen))  # the weights that collected the rollout
    batches = cartpole_rollouts(local, seed, CALLS, steps=30)
    moves = [
        {k: 0.02 * torch.randn(v.shape, generator=gen) for k, v in shared.state_dict().items()} for _ in range(CALLS)
    ]
    return dict(shared.state_dict()), dict(local.state_dict()), batches, moves


def _gradient(state: dict, batch: dict, clip: bool = True, cfg=CFG) -> dict[str, torch.Tensor]:
    """The gradient of notebook 2's loss (the course's versions) at weights ``state``, clipped or not."""
    ref = reference(NOTEBOOK)
    model = MLPActorCritic(**MODEL)
    model.load_state_dict(state)
    b = Rollout(**batch)
    targets = ref.n_step_targets(b.rewards, b.terminated, b.truncated, b.final_values, b.last_value, cfg.gamma)
    dist, values = model(b.obs.flatten(0, 1))
    parts = ref.a2c_loss(dist, b.actions.flatten(), values, targets.flatten(), cfg.value_coef, cfg.entropy_coef)
    model.zero_grad()
    parts["loss"].backward()
    if clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
    return {k: torch.zeros_like(p) if p.grad is None else p.grad.detach().clone() for k, p in model.named_parameters()}


def _norm(grads: dict) -> float:
    return float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads.values()])))


def _close(a: dict, b: dict) -> bool:
    """Equal within a tolerance of b's size; never for NaN or inf (nor raising on them)."""
    if not (math.isfinite(_norm(a)) and math.isfinite(_norm(b))):
        return False
    scale = max(_norm(b), 1e-8)
    return all(torch.allclose(a[k], b[k], atol=1e-5 * scale, rtol=1e-3) for k in b)


def _scaled(grads: dict, factor: float) -> dict:
    return {k: g * factor for k, g in grads.items()}


def _clipped(grads: dict, max_norm: float) -> dict:
    return _scaled(grads, min(1.0, max_norm / (_norm(grads) + 1e-6)))


def _diagnose(handed: dict, local: dict, shared: dict, batch: dict, previous: list[dict] | None) -> str:
    """The most likely mistake behind a wrong gradient handed to the shared model."""
    if _norm(handed) == 0:
        return (
            "the shared model received no gradient: set each shared parameter's .grad to a copy of the local "
            "parameter's .grad (shared_p.grad = local_p.grad.clone()) before optimizer.step()."
        )
    raw = _gradient(local, batch, clip=False)
    clipped = _clipped(raw, CFG.max_grad_norm)
    for left in previous or []:  # what an update that does not zero may have left in the local .grad
        summed = {k: raw[k] + left[k] for k in raw}
        if _close(handed, _clipped(summed, CFG.max_grad_norm)) or _close(handed, summed):
            return (
                "the gradient handed over is this update's plus what the one before left in the local model's "
                ".grad: the local gradients are never zeroed, so they accumulate over the updates. Call "
                "local_model.zero_grad() before loss.backward() (optimizer.zero_grad() zeroes the shared model's "
                "gradients, not the local ones)."
            )
    if _close(handed, raw):
        return (
            f"the gradient was not clipped (its norm is {number(_norm(raw), 3)}, max_grad_norm is "
            f"{CFG.max_grad_norm}): clip the local gradients with clip_grad_norm_ after backward() and *before* "
            "handing them over (clipping after the copy leaves the shared gradients as they were)."
        )
    if _close(handed, _scaled(clipped, -1.0)):
        return "the shared model moved up the gradient: hand over the gradient itself; optimizer.step() descends it."
    at_shared, at_shared_raw = _gradient(shared, batch), _gradient(shared, batch, clip=False)
    if _close(handed, at_shared) or _close(handed, at_shared_raw):
        return (
            "this is the gradient at the *shared* weights, not at the local ones that collected the rollout: "
            "either the forward pass used shared_model, or the local model was refreshed (load_state_dict) before "
            "the loss. Compute the loss with local_model, refresh it after the shared optimizer's step."
            + (" It is not clipped either." if _close(handed, at_shared_raw) and not _close(handed, at_shared) else "")
        )
    if _close(handed, _scaled(clipped, 2.0)):
        return "twice the gradient: the shared optimizer stepped twice, or the gradient was added twice."
    return ""


def _pasted_note(n_step_targets, a2c_loss) -> str | None:
    """Whether the functions pasted from notebook 2 pass notebook 2's checks (not graded here)."""
    problems = []
    for name, fn, grade in (
        ("n_step_targets", n_step_targets, nb02.grade_n_step_targets),
        ("a2c_loss", a2c_loss, nb02.grade_a2c_loss),
    ):
        if fn is None:
            problems.append(f"{name} is missing")
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            points = grade(fn)
        if points < 4.0:
            problems.append(f"{name} scores {points:g} / 4 on notebook 2's hidden checks")
    if not problems:
        return None
    return (
        "your pasted " + "; ".join(problems) + ". It is not graded here (your a3c_update was scored with the "
        "course's versions), but your training in this notebook uses yours: fix it in notebook 2 and paste it again."
    )


class UpdateInputs(Context):
    """A worker's case (``_update_case``), and the student's three updates in a row on it (run once)."""

    def __init__(self, fn, n_step_targets=None, a2c_loss=None):
        super().__init__(fn, n_step_targets, a2c_loss)
        self.shared_state, self.local_state, self.batches, self.moves = _update_case()
        self._calls = None

    def calls(self) -> list[dict]:
        """Three updates in a row, as a worker makes them, the shared model moved by the others in between."""
        if self._calls is not None:
            return self._calls
        bench = bench_for(self.fn)
        shared, shared_files = bench.model(MODEL, self.shared_state)
        local, local_files = bench.model(MODEL, self.local_state)
        # SGD at lr 1 with a weight decay: the shared weights move by minus (the gradient + decay * weights)
        optimizer = bench.build("sgd", shared, 1.0, weight_decay=WEIGHT_DECAY)
        calls = []
        for k in range(CALLS):
            before_shared = bench.read(shared_files, self.shared_state)
            before_local = bench.read(local_files, self.local_state)
            logs = self.fn(local, shared, optimizer, bench.build("rollout", self.batches[k]), CFG)
            after_shared = bench.read(shared_files, self.shared_state)
            expect(
                all(bool(torch.isfinite(v).all()) for v in after_shared.values()),
                f"after your update (call {k + 1} of three), the shared weights hold NaN or inf: look for a "
                "division by zero or a log of 0 in your loss, or a learning step that blew up.",
            )
            calls.append(
                {
                    "local": before_local,
                    "shared": before_shared,
                    "logs": logs,
                    "handed": applied(before_shared, after_shared, 1.0, WEIGHT_DECAY),
                    "moved": {n: before_shared[n] - after_shared[n] for n in self.shared_state},
                    "after_shared": after_shared,
                    "after_local": bench.read(local_files, self.local_state),
                }
            )
            bench.write(shared_files, {n: after_shared[n] + self.moves[k][n] for n in self.shared_state})  # the others
        self._calls = calls
        return calls


update_checks = Checks("a3c_update", UpdateInputs)
BY_HAND = (
    "the shared weights moved by exactly minus the gradient, but not as the optimizer you were given moves "
    "them (it also decays the weights here): your update changed them itself. Hand the gradient to the "
    "shared parameters' .grad and call optimizer.step(): in training that optimizer is the shared Adam."
)


COPIED = (
    "the shared weights became the local model's, moved by a step of their own: your update stepped an "
    "optimizer of its own on the local model (or copied weights into the shared model) instead of the one it "
    "was given. Hand the local gradient to the shared parameters' .grad and call optimizer.step(): in training "
    "that optimizer is the shared Adam, whose state all the workers share."
)


def _bypassed(call: dict, want: dict) -> str | None:
    """Whether an update moved the shared weights without the optimizer it was given: by hand
    (minus the gradient, without the optimizer's weight decay), or by making them the local weights."""
    if _close(call["moved"], want):
        return BY_HAND
    from_local = {n: call["local"][n] - call["after_shared"][n] for n in call["local"]}
    near_local = _norm(from_local) < 0.5 * _norm(call["moved"])
    if _close(from_local, want) or near_local:
        return COPIED
    return None


@update_checks.case("hands the local model's clipped gradient to the shared model", 1.5, gate=SHARING_CAP)
def handed_over(c: UpdateInputs) -> None:
    call = c.calls()[0]
    want = _gradient(call["local"], c.batches[0])
    if _close(call["handed"], want):
        return
    bypass = _bypassed(call, want)
    if bypass:
        raise CheckFailed(bypass)
    problem = _diagnose(call["handed"], call["local"], call["shared"], c.batches[0], None)
    if problem:
        raise CheckFailed(f"the gradient your update handed to the shared model: {problem}")
    for name, expected in want.items():
        expect_close(
            call["handed"][name],
            expected,
            f"the gradient handed to shared `{name}` (30 steps of CartPole, local weights behind the shared ones)",
            "the gradient of notebook 2's loss at "
            "the *local* model's weights, clipped to max_grad_norm, copied to the shared parameters.",
            atol=1e-5 * _norm(want),
            rtol=1e-3,
        )


@update_checks.case("refreshes the local model with the shared weights after the step", 1.0, gate=SHARING_CAP)
def refreshed(c: UpdateInputs) -> None:
    call = c.calls()[0]
    for name, shared in call["after_shared"].items():
        if not torch.allclose(call["after_local"][name], shared):
            stale = torch.allclose(call["after_local"][name], call["local"][name])
            raise CheckFailed(
                "after the update the local model "
                + ("still has its old weights" if stale else "does not hold the shared weights")
                + ": load the shared weights into it after the step (local_model.load_state_dict("
                "shared_model.state_dict())), or the worker keeps acting with weights that miss every "
                "other worker's updates."
            )


@update_checks.case("each update starts from fresh gradients (three updates in a row)", 1.0, gate=SHARING_CAP)
def fresh_gradients(c: UpdateInputs) -> None:
    calls = c.calls()
    if not _close(calls[0]["handed"], _gradient(calls[0]["local"], c.batches[0])):
        raise CheckFailed(
            "not checked: the first update of the three already handed the shared model a wrong gradient (the "
            "first check says how); this check needs the first one right."
        )
    left = [_gradient(calls[0]["local"], c.batches[0]), _gradient(calls[0]["local"], c.batches[0], clip=False)]
    for k in range(1, CALLS):
        call = calls[k]
        want = _gradient(call["local"], c.batches[k])
        if not _close(call["handed"], want):
            problem = _diagnose(call["handed"], call["local"], call["shared"], c.batches[k], left)
            raise CheckFailed(
                f"update {k + 1} of three in a row handed the shared model a wrong gradient"
                + (
                    f": {problem}"
                    if problem
                    else " (the first was right): what your update leaves behind changes the next one."
                    " Zero the local gradients before backward(), and hand over a copy of them."
                )
            )
        left = [want, _gradient(call["local"], c.batches[k], clip=False)]


@update_checks.case("returns the loss parts as floats", 0.5)
def returns_parts(c: UpdateInputs) -> None:
    logs = c.calls()[0]["logs"]
    expect(
        isinstance(logs, dict) and {"loss", "policy_loss", "value_loss", "entropy"} <= set(logs),
        "return the loss parts as a dict of floats: {name: part.item() for name, part in parts.items()}.",
    )
    expect(
        all(isinstance(logs[k], float) for k in ("loss", "policy_loss", "value_loss", "entropy")),
        "the returned parts should be plain floats (.item()), not tensors.",
    )


@update_checks.note
def pasted(c: UpdateInputs) -> str | None:
    return _pasted_note(*c.more)


grade_a3c_update = update_checks
