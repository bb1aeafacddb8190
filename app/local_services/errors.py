"""The two errors of local_services; the command line turns them into exit codes 1 and 2."""

from __future__ import annotations


class LocalServicesError(RuntimeError):
    """A service cannot be made to answer; the message says what to do about it."""


class ConfigError(ValueError):
    """A URL in the environment is malformed; the message starts with the variable's name."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
