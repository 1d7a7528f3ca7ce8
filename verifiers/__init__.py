"""Running tests in an environment, reading their reports, grading FAIL_TO_PASS / PASS_TO_PASS."""
