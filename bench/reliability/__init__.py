"""Reliability bench: what a real `biotag serve` does under fuzzing, hostile input, overload,
faults, SIGTERM and a soak (`python -m bench.reliability`). Figures, not pass/fail on time."""
