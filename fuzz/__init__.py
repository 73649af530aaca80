"""Fuzzing Millstream's input path: shared invariants, and atheris harnesses (run by hand, see docs/bad-input.md)."""
