"""The code's structure, read from the sources: no import cycle in autograder/ or course_lib/, the
code that runs inside nbgrader's processes loads nothing of the pipeline, the scorer's process
loads neither nbgrader nor the pipeline's other steps, and the grader's imports sit at the top of
a module unless they must be lazy (each of those says why, on its line). (course_lib's heavy,
optional libraries, vizdoom, ale-py, OpenCV, wait until a notebook asks for them.)"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("autograder", "course_lib")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imported(path: Path, known: dict[str, Path]) -> set[str]:
    """The project's modules ``path`` imports (``from package import module`` names the module)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{a.name}" for a in node.names]
            out |= {s for s in subs if s in known}
            if any(s not in known for s in subs) and node.module in known:
                out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
    return out


def test_no_import_cycle():
    known = modules()
    graph = {m: imported(p, known) - {m} for m, p in known.items()}
    cycles, state = [], {}

    def visit(m, stack):
        state[m] = "open"
        for n in graph[m]:
            if state.get(n) == "open":
                cycles.append(stack[stack.index(n) :] + [n])
            elif n not in state:
                visit(n, [*stack, n])
        state[m] = "done"

    for m in graph:
        if m not in state:
            visit(m, [m])
    assert cycles == []


def loaded(module: str) -> set[str]:
    """The project's modules and the heavy libraries a fresh process loads with ``module``."""
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    return set(out.split())


def test_nbgrader_processes_load_nothing_of_the_pipeline_and_the_scorer_no_nbgrader():
    grading = loaded("autograder.nbgrader_process.grading_execute")
    assert not {m for m in grading if m.startswith("autograder.pipeline")}, grading
    scorer = loaded("autograder.pipeline.scorer")
    assert "nbgrader" not in scorer
    assert not {"autograder.pipeline.run", "autograder.pipeline.execute", "autograder.pipeline.report"} & scorer


def test_the_graders_own_processes_load_no_torch():
    """The grader and nbgrader's processes are beside the student's kernel in Gradescope's 768 MB:
    torch (some 200 MB) is loaded where the student's code or the checks run, nowhere else."""
    for module in (
        "autograder.gradescope.run",
        "autograder.pipeline.run",
        "autograder.nbgrader_process.grading_execute",
    ):
        assert "torch" not in loaded(module), module


def test_imports_inside_functions_say_why_they_are_lazy():
    lazy = []
    for name, path in modules().items():
        if not name.startswith("autograder"):
            continue
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)) and "lazy" not in lines[inner.lineno - 1]:
                        lazy.append(f"{name}:{inner.lineno}")
    assert lazy == []
