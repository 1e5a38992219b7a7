"""What the scorer takes from a student's process: only what the student's functions return, and
what it reads itself in that process's shared memory; nothing the process says about itself, no
name beyond the exercise's, no file it left that is not a plain one. No sandbox needed: the
answers process runs as a plain subprocess here (tests/integration/test_grade_class.py runs it sandboxed)."""

import os

import nbformat
import numpy as np
import pytest
import torch

from autograder.pipeline.answers_client import AnswersClient
from autograder.pipeline.scorer import exercise_names, score_notebook
from autograder.pipeline.shared import NotShared, SharedFolder
from course_lib import probes
from course_lib.bench import bench_for
from course_lib.checks import StudentCodeError
from fixtures import FILES, HOSTILE, MISTAKES, ROOT, SCORED_ONLY, bounds, solution_source, with_cell


def score(notebook: str, grade_id: str | None = None, source: str | None = None) -> dict[str, float]:
    nb = nbformat.read(ROOT / "solutions" / f"{notebook}.ipynb", as_version=4)
    if grade_id:
        nb = with_cell(ROOT / "solutions" / f"{notebook}.ipynb", grade_id, source)
    with AnswersClient(call_timeout=60, budget=600) as answers:
        result = score_notebook(notebook, nb, answers)
    return {gid: cell.points for gid, cell in result.cells.items()}


# --------------------------------------------------------------------------- names
def test_only_the_exercises_names_cross_into_the_test_cells():
    source = nbformat.read(ROOT / "solutions" / "03_a3c.ipynb", as_version=4)
    assert exercise_names(source) == {"n_step_targets", "a2c_loss", "SharedAdam", "a3c_update"}


@pytest.mark.slow
def test_shadowed_builtins_do_not_reach_the_visible_checks():
    """A do-nothing optimizer that also defines all(), sorted(), zip() ... passed its visible check
    when every callable of the answer cells went into the test cells' namespace."""
    points = score("03_a3c", "optimizer_solution", HOSTILE["shadows_builtins"][2])
    assert points["optimizer_visible"] == 0.0 and points["optimizer_hidden"] <= 1.0


# --------------------------------------------------------------------------- measured from outside
@pytest.mark.slow
def test_probes_replaced_in_the_students_process_change_no_score():
    """The shared optimizer's checks read its state in shared memory: a private, lazily made state
    that the patched probes and a decoy file of shared memory report as shared scores what the
    honest lazy state scores."""
    faked = score("03_a3c", "optimizer_solution", HOSTILE["fakes_probes"][2])
    honest = score("03_a3c", "optimizer_solution", MISTAKES["adam_state_made_in_step"][2])
    for cell in ("optimizer_visible", "optimizer_hidden"):
        assert faked[cell] <= honest[cell], (faked, honest)


@pytest.mark.slow
def test_what_the_checks_build_with_cannot_be_replaced(answers):
    """The builders the checks run a student's code on are taken before any answer cell runs, and
    each refuses to run once an answer cell has replaced one of them or a function of torch's they
    use; torch's own first-use changes to its functions are not taken for the student's."""
    honest = "import torch\nx = torch.nn.Parameter(torch.zeros(3))\nopt = torch.optim.SGD([x], lr=0.1)\n"
    assert answers.exec_cell("t", "honest", honest + "x.sum().backward()\nopt.step()\n") is None
    built = answers.build("sgd", [torch.zeros(2, requires_grad=True)], 0.1)
    assert built is not None
    for cell, words in (
        ("import course_lib.builders as p\np.state_layout = lambda o, ps: {}\n", "course_lib.builders.state_layout"),
        (
            "import torch\n_s = torch.optim.SGD.step\ntorch.optim.SGD.step = lambda self, c=None: _s(self, c)\n",
            "torch.optim.SGD.step",
        ),
    ):
        with AnswersClient(call_timeout=60, budget=120) as fresh:
            assert fresh.exec_cell("t", "attack", cell) is None
            with pytest.raises(StudentCodeError, match=f"your code replaced .*{words}"):
                fresh.build("sgd", [torch.zeros(2, requires_grad=True)], 0.1)


@pytest.mark.slow
@pytest.mark.parametrize("attack", sorted(SCORED_ONLY))
def test_an_answer_that_replaces_the_checks_tools_gets_nothing_for_its_notebook(attack):
    """The grader's attacks of issue 21's review: a lazy state made when the layout is asked for, an
    update that does not clip but torch's SGD that does (both scored full marks before), probes
    replaced by a decoy. The class test leaves these out (fixtures.SCORED_ONLY): this is their test."""
    points = score("03_a3c", HOSTILE[attack][1], HOSTILE[attack][2])
    assert sum(points.values()) == 0.0, points


@pytest.mark.slow
@pytest.mark.parametrize("attack", ["patches_allclose", "patches_hidden_checks", "input_transformer"])
def test_tampering_with_the_kernels_tools_changes_no_score(attack):
    """Patched comparisons, fake hidden-check modules, an input transformer that makes every later
    cell swallow its errors: in the answers process they change nothing the scorer reads (the class
    test graded these end to end before; the kernel's run gives no point)."""
    f = FILES["hostile"][attack]
    base = ROOT / ("notebooks" if f["base"] == "blank" else "solutions") / f"{f['notebook']}.ipynb"
    with AnswersClient(call_timeout=60, budget=600) as answers:
        result = score_notebook(f["notebook"], with_cell(base, f["cell"], f["source"]), answers)
    _, low, high = bounds(attack)[f["notebook"]]
    assert low <= sum(c.points for c in result.cells.values()) <= high, result


@pytest.fixture(scope="module")
def answers():
    with AnswersClient(call_timeout=60, budget=600) as answers:
        yield answers


def test_a_students_function_in_the_grader_brings_the_grader_s_bench(answers):
    """The probes and the hidden checks get a bench from what they are given: the grader's proxy of a
    student's function brings one that makes its objects in the student's process."""
    from autograder.pipeline.remote_bench import RemoteBench
    from course_lib.bench import LocalBench

    assert answers.exec_cell("p", "cell", "def f(x):\n    return x") is None
    assert isinstance(bench_for(answers.functions("p")["f"]), RemoteBench)
    assert isinstance(bench_for(lambda x: x), LocalBench)


@pytest.mark.slow
def test_an_optimizers_state_is_shared_only_where_it_is_found_in_shared_memory(answers):
    gen = torch.Generator().manual_seed(0)
    start = [torch.randn(3, 2, generator=gen), torch.randn(2, generator=gen)]
    grads = [[torch.randn(3, 2, generator=gen), torch.randn(2, generator=gen)] for _ in range(4)]
    good = solution_source("03_a3c", "optimizer_solution")
    with AnswersClient(call_timeout=60, budget=600) as own:
        assert own.exec_cell("s", "imports", "import torch") is None
        assert own.exec_cell("s", "cell", good) is None
        out = probes.optimizer_steps(bench_for(own.functions("s")["SharedAdam"]), start, grads, lr=0.1)
    assert {e["shared"] for entries in out["state_before"]["per_param"] for e in entries.values()} == {True}
    # The decoy replaces course_lib.builders' functions in its process, so that a private state would
    # report as shared: the builders the checks use were taken before any answer ran, and refuse.
    with AnswersClient(call_timeout=60, budget=600) as own:
        assert own.exec_cell("s", "imports", "import torch") is None
        assert own.exec_cell("s", "cell", HOSTILE["fakes_probes"][2]) is None
        with pytest.raises(StudentCodeError, match="your code replaced course_lib.builders"):
            probes.optimizer_steps(bench_for(own.functions("s")["SharedAdam"]), start, grads, lr=0.1)


def test_an_update_is_read_in_the_memory_of_the_models_it_was_given(answers):
    """one_step on the grader's bench: the weights live in files of the scorer's; what the update did shows there."""
    source = (
        "import torch\n\ndef update(model, optimizer, batch, cfg):\n    optimizer.zero_grad()\n"
        "    dist, values = model(batch.obs.flatten(0, 1))\n    values.sum().backward()\n    optimizer.step()\n"
        "    return {'said': 'anything'}"
    )
    assert answers.exec_cell("u", "cell", source) is None
    from autograder.hidden.cases import MODEL, cartpole_rollouts, trained_looking

    model = trained_looking(0)
    [batch] = cartpole_rollouts(model, 0, 1, steps=6)
    out = probes.one_step(bench_for(answers.functions("u")["update"]), MODEL, dict(model.state_dict()), batch, None)
    values = model(batch["obs"].flatten(0, 1))[1].sum()
    model.zero_grad()
    values.backward()
    for name, param in model.named_parameters():
        want = torch.zeros_like(param) if param.grad is None else param.grad
        assert torch.allclose(out["applied"][name], want, atol=1e-5), name
    assert out["logs"] == {"said": "anything"}


# --------------------------------------------------------------------------- stand-ins
def test_a_stood_in_function_runs_here_and_its_gradient_reaches_both_sides(answers):
    """During a call of `f`, the name `helper` in the student's namespace calls back into the scorer,
    where the course's version runs; its result joins the student's graph, and the student's result
    joins the scorer's."""
    assert (
        answers.exec_cell("s", "cell", "def helper(x):\n    return x * 0\n\ndef f(x):\n    return 2 * helper(x)")
        is None
    )
    answers.stand_in("s", {"helper": lambda x: x**2})
    stood_in = answers.functions("s", {"f": ("helper",)})["f"]
    x = torch.tensor([1.0, 3.0], requires_grad=True)
    y = stood_in(x)
    assert torch.allclose(y, 2 * x.detach() ** 2)
    y.sum().backward()
    assert torch.allclose(x.grad, 4 * x.detach())
    own = answers.functions("s")["f"]  # without stand-ins: the student's own helper
    assert torch.equal(own(torch.tensor([1.0, 3.0])), torch.zeros(2))
    assert torch.equal(answers.functions("s")["helper"](torch.tensor([2.0])), torch.zeros(1))  # put back after


def test_a_callback_nobody_offered_stops_that_process_not_the_scorer(answers):
    source = (
        "from autograder.sandboxed.protocol import write_frame, read_frame\nimport sys\n"
        "def sneaky():\n    import gc\n"
        "    server = next(o for o in gc.get_objects() if type(o).__name__ == 'AnswersServer')\n"
        "    write_frame(server.replies, {'op': 'callback', 'name': 'reference', 'inputs': {'list': []}})\n"
        "    return read_frame(server.requests)[0]\n"
    )
    assert answers.exec_cell("c", "cell", source) is None
    with pytest.raises(StudentCodeError, match="broke the protocol"):
        answers.functions("c")["sneaky"]()


@pytest.mark.slow
def test_messages_nobody_asked_for_stop_that_process_and_stay_out_of_the_scorers_memory():
    """A student's thread writes frames onto the reply pipe while its function runs: the first one
    that answers no request ends that process; the scorer keeps at most two frames, of bounded size."""
    import resource

    source = (
        "from autograder.sandboxed.protocol import write_frame\nimport gc, threading, time\n"
        "def flood():\n"
        "    server = next(o for o in gc.get_objects() if type(o).__name__ == 'AnswersServer')\n"
        "    junk = b'x' * (64 * 1024**2)\n"
        "    def spam():\n"
        "        for _ in range(40):\n"
        "            write_frame(server.replies, {'id': -1, 'blob_sizes': [len(junk)]}, [junk])\n"
        "    threading.Thread(target=spam, daemon=True).start()\n"
        "    time.sleep(30)\n"
        "    return 1\n"
    )
    with AnswersClient(call_timeout=60, budget=120) as answers:
        assert answers.exec_cell("f", "cell", source) is None
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with pytest.raises(StudentCodeError, match="a message that answers no request"):
            answers.functions("f")["flood"]()
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 400  # 40 frames of 64 MB were sent: at most a few were ever held


@pytest.mark.slow
def test_a_stood_in_function_refuses_inputs_too_large_to_run_here(answers):
    """The course's version runs on the host: a rollout of 400,000 steps sent to it is refused
    (the student's call fails) instead of costing the scorer minutes."""
    source = "def helper(x):\n    return x\n\ndef g(n):\n    import torch\n    return helper(torch.zeros(n)).sum()\n"
    assert answers.exec_cell("big", "cell", source) is None
    answers.stand_in("big", {"helper": lambda x: x + 1})
    g = answers.functions("big", {"g": ("helper",)})["g"]
    assert float(g(10)) == 10.0
    with pytest.raises(StudentCodeError, match="more than 65,536 numbers"):
        g(400_000)


# --------------------------------------------------------------------------- files in shared memory
def test_the_shared_memory_is_read_without_following_what_the_student_left_there(tmp_path):
    folder = SharedFolder(str(tmp_path))
    secret = tmp_path.parent / "secret.txt"
    secret.write_text("x" * 64)
    os.symlink(secret, tmp_path / "link")
    os.mkfifo(tmp_path / "fifo")
    os.link(secret, tmp_path / "hard")
    for name in ("link", "fifo", "hard", "../secret.txt", "missing"):
        with pytest.raises(NotShared):
            folder.read(name, "float32", [4])
    name = folder.create(torch.arange(4.0))
    assert torch.equal(folder.read(name, "float32", [4]), torch.arange(4.0))
    folder.write(name, torch.tensor([9.0]), offset=4)
    mapped = torch.from_file(str(tmp_path / name), shared=True, size=4)  # as the student's side maps it
    assert torch.equal(mapped, torch.tensor([0.0, 9.0, 2.0, 3.0]))
    folder.close()
    assert not (tmp_path / name).exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another uid needs root")
def test_the_files_the_scorer_makes_belong_to_the_students_uid_alone(tmp_path):
    """In the uid mode the shared memory is the machine's /dev/shm, where the code of a student
    graded beside runs too: a file the scorer makes is that student's uid's, 0600, no one else's."""
    folder = SharedFolder(str(tmp_path), uid=54321)
    name = folder.create(torch.arange(4.0))
    info = os.lstat(tmp_path / name)
    assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (54321, 54321, 0o600)
    assert torch.equal(folder.read(name, "float32", [4]), torch.arange(4.0))
    # Another student's file there (another uid's), which this student's code names as its own
    # state: the scorer neither reads nor writes it.
    (tmp_path / "torch_theirs").write_bytes(torch.arange(4.0).numpy().tobytes())
    os.chown(tmp_path / "torch_theirs", 54322, 54322)
    with pytest.raises(NotShared, match="not a file of your process"):
        folder.read("torch_theirs", "float32", [4])
    with pytest.raises(NotShared, match="not a file of your process"):
        folder.write("torch_theirs", torch.zeros(1))
    assert torch.equal(
        torch.from_numpy(np.frombuffer((tmp_path / "torch_theirs").read_bytes(), np.float32).copy()), torch.arange(4.0)
    )
    folder.close()
