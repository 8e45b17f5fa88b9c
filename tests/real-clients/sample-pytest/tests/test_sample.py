"""Sample suite that the real buildkite-test-collector pytest plugin uploads to Verdict."""
import time
import pytest


def test_addition():
    assert 1 + 1 == 2


def test_string_upper():
    assert "abc".upper() == "ABC"


def test_failing_assertion():
    expected = {"a": 1, "b": 2}
    assert expected == {"a": 1, "b": 3}


def test_raises_error():
    raise RuntimeError("boom from test body")


@pytest.mark.skip(reason="demonstrating a skipped test")
def test_skipped():
    assert False


@pytest.mark.xfail(reason="known bug")
def test_expected_failure():
    assert 0 == 1


@pytest.mark.parametrize("n", [1, 2, 3])
def test_param(n):
    assert n > 0


@pytest.mark.execution_tag("team", "backend")
@pytest.mark.execution_tag("feature", "billing")
def test_with_execution_tags():
    assert True


def test_with_spans(spans):
    with spans.measure("sql", {"query": "SELECT 1"}):
        time.sleep(0.01)
    with spans.measure("http", {"method": "GET", "url": "http://127.0.0.1/x", "lib": "requests"}):
        time.sleep(0.005)
    with spans.measure("annotation", {"content": "visiting login"}):
        pass
    with spans.measure("sleep"):
        time.sleep(0.002)


@pytest.fixture
def broken_fixture():
    raise ValueError("setup failed")


def test_setup_error(broken_fixture):
    assert True


class TestGrouped:
    def test_method_passes(self):
        assert [1, 2] == [1, 2]

    def test_method_slow(self):
        time.sleep(0.05)
