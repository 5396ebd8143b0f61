"""lighteval task definitions for `hala-release eval`, shipped inside the package as `hala_release.resources.eval_tasks`.

`hala` holds the benchmarks, suites and task configs; `fixtures/` holds tiny offline copies of each benchmark in its
real Hub layout (our own rows), laid out like a `--data-dir` mirror: `fixtures/<org>/<name>/`.
"""

from importlib import resources
from pathlib import Path


def fixtures_root() -> Path:
    """The folder with the shipped fixture benchmarks (a `--data-dir` mirror of their Hub repos)."""
    return Path(str(resources.files(__name__).joinpath("fixtures")))
