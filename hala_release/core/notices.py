"""Library notices that say nothing to a hala-release user, kept off the console (but never the real problems).

Two kinds:
- A deprecation a library raises against *its own* code (mergekit 0.1.5 sets `config.torch_dtype`, lighteval 0.13
  passes `torch_dtype=` to `from_pretrained`): nothing a user or hala-release passes can avoid it, so it is hidden
  only while that library's code runs (`hidden_notice`). Our own calls use `dtype=` and would still show it.
- A harmless environment notice a library prints once per process (transformers: "`causal_conv1d_fn` is falling
  back to its reference PyTorch implementation"). A pipeline runs each stage in a process of its own, so it would
  come once per stage; `OncePerRun` lets each such message through once per pipeline run instead.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterable, Iterator

TORCH_DTYPE_DEPRECATION = "`torch_dtype` is deprecated! Use `dtype` instead!"
TORCH_DTYPE_LOGGERS = ("transformers.configuration_utils", "transformers.modeling_utils")
# Loggers whose messages are environment notices worth seeing once per run, not once per stage.
ONCE_PER_RUN_LOGGERS = ("transformers.integrations.hub_kernels",)


class _Without(logging.Filter):
    def __init__(self, message: str):
        super().__init__()
        self.message = message

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.message


@contextmanager
def hidden_notice(message: str = TORCH_DTYPE_DEPRECATION,
                  loggers: Iterable[str] = TORCH_DTYPE_LOGGERS) -> Iterator[None]:
    """Drop exactly `message` from `loggers` while the block runs (a library's own deprecation, see above)."""
    drop = _Without(message)
    targets = [logging.getLogger(name) for name in loggers]
    for logger in targets:
        logger.addFilter(drop)
    try:
        yield
    finally:
        for logger in targets:
            logger.removeFilter(drop)


class OncePerRun(logging.Filter):
    """Lets each message through once, counting those earlier stage processes of the run already showed."""

    def __init__(self, shown: Iterable[str] = ()):
        super().__init__()
        self.shown = set(shown)
        self.new: list[str] = []  # shown by this process: the parent passes them on to the next stages

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.shown:
            return False
        self.shown.add(message)
        self.new.append(message)
        return True

    def install(self, loggers: Iterable[str] = ONCE_PER_RUN_LOGGERS) -> "OncePerRun":
        for name in loggers:
            logging.getLogger(name).addFilter(self)
        return self
