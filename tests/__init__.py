"""Pantau's tests (a package, so that tests and benchmarks can share fixture builders: ``tests.fixtures``)."""
