"""A suite for `verdict run`: one test always fails (muted by the test script),
one fails when FAIL_OTHER is set, one passes."""
import os


def test_good():
    assert True


def test_wobbly():
    assert False, "wobbly failed"


def test_other():
    assert not os.environ.get("FAIL_OTHER"), "other failed"
