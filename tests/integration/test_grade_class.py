"""The grading command on the fixture class's end-to-end students (``fixtures.END_TO_END``: the cases
that live in nbgrader's run, the sandbox or the pipeline): every student and notebook gets the
expected status and points, nothing hostile gets out of its sandbox, and a re-run gives the same
grades. The other students' cases are tested where they are cheapest (see ``END_TO_END``)."""

import csv
import html
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from autograder.cells import exercise_of, grade_id_of
from autograder.paths import assignment_ids
from autograder.pipeline import Options, grade_class, statuses
from autograder.pipeline.report import max_points
from autograder.sandboxed import launcher as sandbox
from fixtures import END_TO_END, FILES, NB1, NEEDS_SANDBOX, PAIRS, ROOT, UNMAPPED, bounds, build, expected, sandboxed

pytestmark = pytest.mark.slow  # the class is graded once for the module: minutes

# With bubblewrap, prlimit and root (`make test` installs bubblewrap when it runs as root) the whole
# class is graded in the sandbox; without, the students that are safe outside it, unsandboxed.
SANDBOXED = sandboxed()
OPTIONS = Options(workers=2, cell_timeout=30, notebook_timeout=240, sandbox="on" if SANDBOXED else "off")
NO_SANDBOX = (
    f"the grading sandbox needs bubblewrap, prlimit and root: the hostile students "
    f"({', '.join(sorted(NEEDS_SANDBOX))}) were not graded"
)


def needs_sandbox():
    """One place, one reason: pytest's summary shows the sandbox-only tests as one line."""
    if not SANDBOXED:
        pytest.skip(NO_SANDBOX)


@pytest.fixture(scope="module")
def planted():
    """A second copy of the course (solutions and hidden checks) on the grading machine, readable by
    anyone, outside /tmp and outside the repository: a student's code must not find it."""
    folder = Path(tempfile.mkdtemp(prefix="course-copy-", dir="/var/tmp"))
    shutil.copytree(ROOT / "solutions", folder / "solutions")
    shutil.copytree(ROOT / "autograder", folder / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def canary():
    """A root-owned 0600 file outside the sandbox that the hostile students aim their links at; it
    is watched (inotify) from before the class is built until the tests look."""
    from canary import Canary

    folder = Path(tempfile.mkdtemp(prefix="canary-", dir="/var/tmp"))
    yield Canary(folder)
    shutil.rmtree(folder, ignore_errors=True)


REPORT_OF_THE_RUN = "report-of-the-class-run.html"
# A results folder so deep that every student's work folder is far past the 108 bytes of a Unix
# socket's path: the kernels' sockets must not live there. With a colon, as an instructor may name a
# term: no path of the results may go into a list split at ':' (JUPYTER_PATH, PYTHONPATH).
DEEP = "fall: 2026 " + "a-rather-long-folder-name-" * 7


def class_expected() -> dict:
    return expected(SANDBOXED, END_TO_END)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, planted, canary):
    root = tmp_path_factory.mktemp("grading")
    submissions = build(root / "class", planted, sandboxed=SANDBOXED, canary=canary.path, students=END_TO_END)
    out = root / DEEP / "results"
    grades, unmapped = grade_class(submissions, out, OPTIONS, progress=False)
    shutil.copy2(out / "report.html", root / REPORT_OF_THE_RUN)  # a later test re-runs a part into ``out``
    return {(g.student, g.notebook): g for g in grades}, unmapped, out, submissions


def kernel_output(out, student, notebook):
    """What a student's notebook printed when the grader ran it (the kernel's own outputs)."""
    import nbformat

    nb = nbformat.read(out / "work" / student / "autograded" / student / notebook / f"{notebook}.ipynb", as_version=4)
    return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))


def test_every_expected_notebook_is_graded_and_nothing_else(graded):
    grades, _, _, _ = graded
    assert set(grades) == set(class_expected())


@pytest.mark.parametrize("student, notebook", sorted(expected(True, END_TO_END)))
def test_status_and_points(graded, student, notebook):
    if student in NEEDS_SANDBOX:
        needs_sandbox()
    status, low, high = class_expected()[student, notebook]
    g = graded[0][student, notebook]
    assert g.status in ((status,) if isinstance(status, str) else status), g.message
    assert low <= g.total <= high, (g.exercises, g.message)
    assert g.max_total == sum(max_points(notebook).values())


def test_each_mistake_of_a_pair_costs_its_own_exercise_what_it_costs_alone(graded):
    grades = graded[0]
    for student, pair in PAIRS.items():
        if student not in END_TO_END:
            continue
        for mistake in pair:
            notebook, cell = FILES["mistakes"][mistake]["notebook"], FILES["mistakes"][mistake]["cell"]
            exercise = exercise_of(cell)
            g = grades[student, notebook]
            others = sum(max_points(notebook).values()) - g.max_exercises[exercise]  # full marks alone
            _, low, high = bounds(mistake)[notebook]
            assert low - others <= g.exercises[exercise] <= high - others, (student, mistake, g.exercises)


def test_every_status_appears(graded):
    """(timeout: the budget test below, with short timeouts)"""
    assert {g.status for g in graded[0].values()} == {"graded", "error", "invalid-notebook", "output-too-large"}


def test_unmapped_files_are_listed(graded):
    assert {path for path, _ in graded[1]} == UNMAPPED
    listed = [row[0] for row in csv.reader((graded[2] / "unmapped.csv").open(newline=""))][1:]
    assert '\'=HYPERLINK("evil.example","click")_01_policy_gradient.ipynb' in listed  # text to a spreadsheet


def test_grades_csv_has_one_row_per_student_and_notebook(graded):
    grades, _, out, _ = graded
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert len(rows) == len(grades) == len({(r["student"], r["notebook"]) for r in rows})
    ref = next(r for r in rows if r["student"] == "reference" and r["notebook"] == "01_policy_gradient")
    assert (ref["status"], ref["total"], ref["returns"], ref["loss"]) == ("graded", "10", "5", "5")


def test_problems_are_explained(graded):
    grades = graded[0]
    assert "not valid JSON" in grades["invalid_json", "01_policy_gradient"].message
    assert "the kernel died in loss_solution" in grades["kills_kernel", "01_policy_gradient"].message
    lost = grades["doom_advantages_not_detached", "05_vizdoom"].message
    assert lost.startswith("update ") and "failed first" in lost  # which exercise lost what, and the first check


def test_feedback_for_everyone_without_hidden_code_or_reference(graded):
    grades, _, out, _ = graded
    for student, notebook in grades:
        text = (out / "feedback" / student / f"{notebook}.html").read_text()
        assert "from autograder.hidden import" not in text, (student, notebook)
        if student != "markers_in_answer":  # that student wrote the markers in a comment: their own text
            assert "BEGIN HIDDEN" not in text, (student, notebook)
        if student == "blank":
            assert "BEGIN SOLUTION" not in text and "not written yet" in text
    mistake = (out / "feedback" / "doom_advantages_not_detached" / "05_vizdoom.html").read_text()
    assert "the advantages are not constants" in mistake
    killed = (out / "feedback" / "kills_kernel" / "01_policy_gradient.html").read_text()
    assert "the kernel died while running this cell" in killed  # shown under the cell that did it


def test_the_references_notebooks_show_nothing_of_the_grading(graded):
    """No error and no complaint of the kernel's own in what the reference's notebooks printed
    (IPython's history database, made before the kernel gave up root, once was not writable, and
    IPython said so in the first cell of every graded notebook)."""
    import nbformat

    _, _, out, _ = graded
    for notebook in assignment_ids():
        path = out / "work" / "reference" / "autograded" / "reference" / notebook / f"{notebook}.ipynb"
        outputs = [o for c in nbformat.read(path, as_version=4).cells for o in c.get("outputs", [])]
        assert not [o for o in outputs if o.output_type == "error"], notebook
        assert "history saving thread" not in kernel_output(out, "reference", notebook), notebook


@pytest.mark.sandbox
def test_hostile_code_stays_in_its_sandbox(graded, planted):
    needs_sandbox()
    _, _, out, submissions = graded
    report = kernel_output(out, "snooper", "01_policy_gradient")
    attempts = [  # its reads and writes (what it shows of the run: test_the_sandbox_shows_no_path_...)
        line
        for line in report.splitlines()
        if (": blocked (" in line or ": OK " in line) and not line.startswith("---")
    ]
    assert len(attempts) == 11 and not any(": OK " in line for line in attempts), report
    assert "read another checkout: blocked (" in report
    for place in (ROOT, out, submissions, planted):
        assert not (place / "hacked.txt").exists()


@pytest.mark.sandbox
def test_a_second_checkout_on_the_grading_machine_cannot_be_found(graded):
    """The planted copy of the solutions is readable by anyone on the host, but not in the sandbox:
    the student who searches the whole file system for it finds nothing, and gets a wrong answer's points."""
    needs_sandbox()
    grades, _, out, _ = graded
    assert "found a solution at: None" in kernel_output(out, "reads_other_checkout", "01_policy_gradient")
    assert grades["reads_other_checkout", "01_policy_gradient"].exercises["returns"] < 1.0


def test_the_reference_is_nowhere_in_the_students_processes(graded):
    """Not in the answers process (so a wrong answer keeps a wrong answer's points, sandbox or not),
    and not in the sandboxed kernel either (the hidden checks are never loaded there)."""
    grades, _, out, _ = graded
    assert grades["calls_reference", "01_policy_gradient"].exercises["returns"] < 1.0
    needs_sandbox()  # an unsandboxed kernel can import anything on the machine
    assert "found the reference: False" in kernel_output(out, "calls_reference", "01_policy_gradient")


@pytest.mark.sandbox
def test_a_notebook_cannot_rewrite_another_notebooks_graded_copy(graded):
    needs_sandbox()
    grades, _, out, _ = graded
    assert "rewrote: []" in kernel_output(out, "rewrites_other_notebook", "02_a2c")
    text = (out / "feedback" / "rewrites_other_notebook" / "01_policy_gradient.html").read_text()
    assert "HACKED" not in text and "All sanity checks passed" in text
    assert grades["rewrites_other_notebook", "01_policy_gradient"].total == 10.0


def test_graded_cells_show_the_scorers_outputs(graded):
    """The kernel does not run hidden checks (test_execute); the feedback shows the scorer's report there."""
    import nbformat

    from autograder.nbgrader_process.marks import HIDDEN_NOTE

    _, _, out, _ = graded
    path = out / "work" / "reference" / "autograded" / "reference" / "01_policy_gradient" / "01_policy_gradient.ipynb"
    hidden = next(c for c in nbformat.read(path, as_version=4).cells if grade_id_of(c) == "returns_hidden")
    text = "".join(o.get("text", "") for o in hidden.outputs)
    assert "discounted_returns (hidden checks): 4 / 4 points" in text and HIDDEN_NOTE not in text


def test_regrading_is_idempotent(graded, tmp_path):
    """A student's notebook 1 graded again into the same results: the same grade, their other
    notebooks' rows and the other students' kept, nobody duplicated."""
    grades, _, out, submissions = graded
    before = (out / "grades.csv").read_text()
    few = tmp_path / "few"
    shutil.copytree(submissions / "blank", few / "blank", ignore=shutil.ignore_patterns("0[2-5]_*"))
    again, _ = grade_class(few, out, OPTIONS, progress=False)
    assert [(g.student, g.notebook, g.total, g.status) for g in again] == [
        (g.student, g.notebook, g.total, g.status)
        for (s, nb), g in sorted(grades.items())
        if s == "blank" and nb == NB1
    ]
    assert (out / "grades.csv").read_text() == before


# --------------------------------------------------------------------------- the host side trusts nothing
@pytest.mark.sandbox
def test_files_left_behind_never_reach_the_host(graded, canary):
    """Links to a root-owned host file, FIFOs and sockets, left in every folder the student's code
    can write (its working folder, home, /tmp, /dev/shm), by the kernel and by the answers process:
    nobody opened the file, read it or changed it, and the class finished with every grade."""
    needs_sandbox()
    grades, _, out, _ = graded
    for student in ("plants_links", "plants_fifos"):
        text = kernel_output(out, student, "01_policy_gradient")
        assert "planted: ['01_policy_gradient.ipynb'" in text and "read the canary: blocked" in text, text
        assert grades[student, "01_policy_gradient"].total == 10.0
    assert canary.events() == [] and canary.unchanged()


@pytest.mark.sandbox
def test_the_sandbox_shows_no_path_of_the_grading_run(graded, planted):
    """Not in bwrap's command line (/proc/1/cmdline), the environment, the mounts, the working folder:
    none of the results, the submissions, the repository's folders (only its Python environment is
    mounted, at its own path: the venv and the interpreter it was made from, which may live in a
    home folder, as pyenv's do), or another checkout."""
    needs_sandbox()
    _, _, out, submissions = graded
    text = kernel_output(out, "snooper", "01_policy_gradient")  # its lines that start with ---
    assert "--- pid 1: bwrap --args" in text and "--- cwd: /home/student" in text, text
    for python in {sys.base_prefix, sys.prefix, os.path.realpath(sys.base_prefix)}:
        text = text.replace(python, "<python>")
    for path in (
        out,
        submissions,
        planted,
        ROOT / "solutions",
        ROOT / "autograder",
        ROOT / "course_lib",
        ROOT / "notebooks",
        Path.home(),
    ):
        assert str(path) not in text, path
    assert "COURSE_SANDBOX_STAGE" not in text and "PYTHONPATH': '/opt/grading'" in text
    # mountinfo names the host path of each folder bound in (a bind mount shows its source): exactly
    # the system's folders, the Python environment's and the run's two temporary folders
    import tempfile

    mounts = text.split("--- mounts:", 1)[1].split("\n--- ", 1)[0]
    sources = {line.split()[3] for line in mounts.strip().splitlines() if len(line.split()) > 4}
    allowed_exact = {"/", "/newroot", *sandbox.SYSTEM_DIRS, *sandbox.SYSTEM_FILES, "<python>"}
    temporary = [f"{tempfile.gettempdir()}/{prefix}" for prefix in (sandbox.STAGE_PREFIX, sandbox.RUNTIME_PREFIX)]
    unexplained = {
        s
        for s in sources
        if s not in allowed_exact
        and not s.startswith(tuple(temporary))
        and not s.startswith(("/usr/", "/etc/", "/devices/", "/null", "/zero", "/full", "/random", "/urandom", "/tty"))
        and s not in ("/irq", "/bus")
    }
    assert unexplained == set(), unexplained


def test_output_without_a_bound_is_cut_and_said_so(graded):
    grades, _, out, _ = graded
    flood = grades["floods_output", "01_policy_gradient"]
    assert flood.status == "output-too-large" and "output too large in returns_solution" in flood.message
    autograded = out / "work" / "floods_output" / "autograded" / "floods_output" / "01_policy_gradient"
    assert (autograded / "01_policy_gradient.ipynb").stat().st_size < 40 * 1024**2
    page = (out / "feedback" / "floods_output" / "01_policy_gradient.html").read_text()
    assert "OutputTooLargeError" in page and "All sanity checks passed" in page  # the cells after it still ran


def test_the_class_report_counts_what_grades_csv_holds(graded):
    from autograder.pipeline.class_report import read_results

    grades, _, out, _ = graded
    page = (out.parent.parent / REPORT_OF_THE_RUN).read_text()
    rows = list(csv.DictReader((out / "grades.csv").open()))
    for notebook in sorted({r["notebook"] for r in rows}):
        counts = [sum(r["notebook"] == notebook and r["status"] == s for r in rows) for s in statuses.ALL]
        cells = "".join(f"<td>{n}</td>" for n in [*counts, sum(counts)])
        assert f"<tr><td>{notebook}</td>{cells}</tr>" in page, notebook
    assert len(read_results(out).grades) == len(grades)
    assert f"{len(UNMAPPED)} file(s) matched no student and notebook" in page


def test_the_class_report_names_each_mistake_under_its_exercise(graded):
    from autograder.pipeline.class_report import mistakes, read_results

    grades, _, out, _ = graded
    results = read_results(out)
    listed: dict[tuple[str, str], set[str]] = {}
    for m in mistakes(results):
        listed.setdefault((m.notebook, m.exercise), set()).update(m.students)
    made = {name: (name,) for name in FILES["mistakes"]} | PAIRS
    for student in END_TO_END & set(made):
        for mistake in made[student]:
            fixture = FILES["mistakes"][mistake]
            assert student in listed[fixture["notebook"], exercise_of(fixture["cell"])], (student, mistake)
    for (notebook, exercise), students in listed.items():
        assert "reference" not in students
        lost = {
            s for (s, nb), g in grades.items() if nb == notebook and g.exercises[exercise] < g.max_exercises[exercise]
        }
        assert students <= lost, (notebook, exercise)
    for notebook in assignment_ids():
        for exercise in {exercise_of(gid) for gid in max_points(notebook)}:
            assert "blank" in listed[notebook, exercise]


def test_the_class_report_opens_in_chromium_with_every_plot_and_no_error(graded, tmp_path):
    """Headless Chromium loads a copy of the page with a script that records every error (a script's,
    an image's that did not load) and every image's size, and writes them into the page it dumps;
    and takes a screenshot (build/screenshots/class_report.png, for the README)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium)")
    import subprocess

    out = graded[2]
    probe = tmp_path / "probe.html"
    watch = (
        "<script>window.__errors=[];addEventListener('error',e=>__errors.push(String(e.message||e.target.src)"
        ".slice(0,80)),true);addEventListener('load',()=>{const sizes=[...document.images].map(i=>i.naturalWidth);"
        "document.body.setAttribute('data-probe',JSON.stringify({errors:__errors,sizes}))});</script>"
    )
    probe.write_text((out.parent.parent / REPORT_OF_THE_RUN).read_text().replace("<head>", "<head>" + watch, 1))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"]
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    found = json.loads(html.unescape(re.search(r'data-probe="([^"]*)"', dom).group(1)))
    assert found["errors"] == []
    assert len(found["sizes"]) == len(assignment_ids()) and all(width > 100 for width in found["sizes"])
    shots = ROOT / "build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            chromium,
            *flags,
            "--window-size=1280,2400",
            f"--screenshot={shots / 'class_report.png'}",
            (out / "report.html").as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    assert (shots / "class_report.png").stat().st_size > 10_000
