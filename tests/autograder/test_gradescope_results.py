"""What results.json shows students on Gradescope, without a run (tests/integration/test_gradescope.py
runs the zips): when each test is visible, and outputs that Gradescope shows as written."""

import zipfile

from autograder.gradescope.build import build
from autograder.gradescope.run import Visibility, fenced, zero

NB1 = "01_policy_gradient"


def test_the_hidden_checks_are_shown_when_the_setting_says_and_the_sanity_checks_at_once():
    for setting in Visibility:
        tests = zero(NB1, "no notebook", setting)["tests"]
        assert {t["name"]: t["visibility"] for t in tests} == {
            "returns: sanity checks": "visible",
            "returns: hidden checks": setting.value,
            "loss: sanity checks": "visible",
            "loss: hidden checks": setting.value,
        }


def test_the_setting_of_make_gradescope_is_baked_into_each_zips_run(tmp_path):
    [archive] = build(tmp_path, [NB1], Visibility.VISIBLE)
    run = zipfile.ZipFile(archive).read("run_autograder").decode()
    assert f"--notebook {NB1}" in run and "--hidden-checks visible" in run


def test_an_output_is_a_code_block_that_nothing_inside_can_close():
    text = "loss 0/5\n  expected 1.0\n<b>bold</b> **strong** ``` and ````"
    block = fenced(text)
    fence = block.split("text\n", 1)[0]
    assert fence == "`````" and block == f"{fence}text\n{text}\n{fence}"  # longer than the longest run inside
    assert fenced("plain").startswith("```text\n")
