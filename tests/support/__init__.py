"""Helpers the tests share: stacks on loopback, AWS in moto, client drivers. Fixtures are in conftest.py."""
