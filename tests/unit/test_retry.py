"""Retry policies (SPEC §3): delays as pure functions of the attempt number."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from aiki_cli import retry
from aiki_cli.authoring.retry import RetryPolicy


def delays(policy: RetryPolicy, fraction: float = 1.0) -> list[float | None]:
    """The delay after each attempt, up to one past the last."""
    return [policy.delay_after(n, fraction) for n in range(1, policy.max_attempts + 1)]


def test_never_makes_one_attempt_and_is_the_default() -> None:
    assert retry.never() == RetryPolicy()
    assert retry.never().max_attempts == 1
    assert retry.never().delay_after(1) is None


def test_the_default_policy_compiles_no_validator() -> None:
    """Defining tasks and workflows with the default policy leaves the policy's validator
    unbuilt (pydantic builds it on first validation): a fresh process, to see that."""
    probe = (
        "from aiki_cli import task, workflow\n"
        "from aiki_cli.authoring.retry import RetryPolicy\n"
        "task(name='t', exec=lambda value: value)\n"
        "async def code(input, run): return input\n"
        "workflow(name='w').v('1.0.0')(code)\n"
        "print(RetryPolicy.__pydantic_complete__)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "False\n"), done.stderr


def test_fixed_waits_the_same_delay_between_attempts() -> None:
    assert delays(retry.fixed(3, delay=2.5)) == [2.5, 2.5, None]


def test_fixed_delay_defaults_to_one_second() -> None:
    assert retry.fixed(2).delay_after(1) == 1.0


def test_max_attempts_counts_the_first_attempt() -> None:
    assert retry.fixed(1).delay_after(1) is None
    two = retry.exponential(2)
    assert two.delay_after(1) == 1.0
    assert two.delay_after(2) is None
    assert two.delay_after(3) is None


def test_exponential_multiplies_by_the_factor() -> None:
    policy = retry.exponential(5, base_delay=0.5, factor=3)
    assert delays(policy) == [0.5, 1.5, 4.5, 13.5, None]


def test_exponential_defaults_to_doubling_from_one_second() -> None:
    assert delays(retry.exponential(4)) == [1.0, 2.0, 4.0, None]


def test_exponential_is_capped_at_max_delay() -> None:
    policy = retry.exponential(6, base_delay=1, factor=3, max_delay=5)
    assert delays(policy) == [1, 3, 5, 5, 5, None]


def test_jittered_with_a_zero_draw_waits_nothing() -> None:
    assert delays(retry.jittered(3, base_delay=2), fraction=0.0) == [0.0, 0.0, None]


def test_jittered_takes_the_drawn_share_of_the_exponential_delay() -> None:
    policy = retry.jittered(4, base_delay=2, factor=2, max_delay=6)
    assert delays(policy, fraction=0.5) == [1.0, 2.0, 3.0, None]


@pytest.mark.parametrize(
    "make",
    [
        lambda: retry.fixed(0),
        lambda: retry.exponential(0),
        lambda: retry.jittered(0),
        lambda: retry.fixed(3, delay=-1),
        lambda: retry.exponential(3, base_delay=-0.5),
        lambda: retry.exponential(3, max_delay=-1),
        lambda: retry.exponential(3, factor=0.5),
        lambda: retry.fixed(1001),
        lambda: RetryPolicy(strategy="never", max_attempts=3),
        lambda: RetryPolicy(strategy="sometimes"),  # type: ignore[arg-type]
    ],
    ids=[
        "fixed-0-attempts",
        "exponential-0-attempts",
        "jittered-0-attempts",
        "negative-delay",
        "negative-base-delay",
        "negative-max-delay",
        "shrinking-factor",
        "too-many-attempts",
        "never-with-3-attempts",
        "unknown-strategy",
    ],
)
def test_invalid_policies_are_refused(make: object) -> None:
    with pytest.raises(ValidationError):
        make()  # type: ignore[operator]


def test_never_with_more_attempts_says_why() -> None:
    with pytest.raises(ValidationError, match="exactly one attempt"):
        RetryPolicy(strategy="never", max_attempts=3)


def test_policies_are_frozen() -> None:
    policy = retry.fixed(3)
    with pytest.raises(ValidationError):
        policy.max_attempts = 5  # type: ignore[misc]


POLICY = st.builds(
    retry.exponential,
    max_attempts=st.integers(min_value=1, max_value=40),
    base_delay=st.floats(min_value=0, max_value=1000, allow_nan=False),
    factor=st.floats(min_value=1, max_value=10, allow_nan=False),
    max_delay=st.floats(min_value=0, max_value=100_000, allow_nan=False),
)


@given(POLICY)
def test_exponential_delays_never_shrink_and_never_pass_the_cap(policy: RetryPolicy) -> None:
    waits = [policy.delay_after(n) for n in range(1, policy.max_attempts)]
    assert all(wait is not None and 0 <= wait <= policy.max_delay for wait in waits)
    assert waits == sorted(waits)  # type: ignore[type-var]
    assert policy.delay_after(policy.max_attempts) is None


@given(
    POLICY,
    st.floats(min_value=0, max_value=1, exclude_max=True),
    st.integers(min_value=1, max_value=40),
)
def test_jitter_never_waits_longer_than_exponential(
    shape: RetryPolicy, fraction: float, attempt: int
) -> None:
    jittered = shape.model_copy(update={"strategy": "jittered"})
    full = shape.delay_after(attempt)
    drawn = jittered.delay_after(attempt, fraction)
    if full is None:
        assert drawn is None
    else:
        assert drawn is not None and 0 <= drawn <= full
