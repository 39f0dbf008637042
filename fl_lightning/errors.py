"""The one exception type for user mistakes.

Anything a user can get wrong (an option's value, a missing file, a bad checkpoint) raises
`UsageError` with a message that names the option, the value and what is allowed. `cli.main`
prints the message without a traceback and exits with code 2.
"""


class UsageError(ValueError):
    """A user mistake: `fl-lightning` prints the message and exits with code 2."""


def check_choice(option: str, value: object, allowed: "list[str] | tuple[str, ...]") -> None:
    """Raise `UsageError` unless `value` is one of `allowed`."""
    if value not in allowed:
        raise UsageError(f"{option}={value!r} is not known; choose one of: {', '.join(allowed)}.")


def check_range(
    option: str,
    value: float,
    low: float,
    high: float,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = False,
) -> None:
    """Raise `UsageError` unless `value` is a number with `low <= value < high` (bounds'
    inclusiveness configurable)."""
    lb = "[" if low_inclusive else "("
    hb = "]" if high_inclusive else ")"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{option}={value!r} is not a number; allowed: {lb}{low}, {high}{hb}.")
    ok_low = value >= low if low_inclusive else value > low
    ok_high = value <= high if high_inclusive else value < high
    if not (ok_low and ok_high):
        raise UsageError(f"{option}={value!r} is out of range; allowed: {lb}{low}, {high}{hb}.")
