"""Timing-only commands start torch with passive OpenMP waiting (spinning workers slowed the next model in an
interleaved pass); training commands keep the default; a user's own OMP_WAIT_POLICY wins."""

import pytest

from trimformer.cli import build_parser
from trimformer.measure import wait_policy


@pytest.mark.parametrize(
    ("argv", "passive"),
    [
        (["bench", "runs/demo"], True),
        (["report", "runs/demo", "--remeasure"], True),
        (["report", "runs/demo"], False),
        (["run", "demo"], False),
        (["eval", "runs/demo/distill", "--recipe", "demo"], False),
    ],
)
def test_only_timing_commands_wait_passively(argv, passive, monkeypatch):
    monkeypatch.delenv(wait_policy.VARIABLE, raising=False)
    wait_policy.passive_for_timing(build_parser().parse_args(argv))
    assert (wait_policy.current() == "PASSIVE") is passive


def test_a_users_own_policy_wins(monkeypatch):
    monkeypatch.setenv(wait_policy.VARIABLE, "ACTIVE")
    wait_policy.passive_for_timing(build_parser().parse_args(["bench", "runs/demo"]))
    assert wait_policy.current() == "ACTIVE"
