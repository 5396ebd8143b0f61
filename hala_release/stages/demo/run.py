"""The demo Space: stage it for the Hub (vendored segmentation and prompt, model ids) and run it locally.

The Space's `app.py` runs where hala-release is not installed, yet must cut text and prompt its translator exactly
as the translate stage does. Rather than publish hala-release to PyPI just for that (or keep a hand-edited copy),
staging copies `hala_release/core/segment.py`, `hala_release/core/markup.py` (which segment imports; both need only
markdown-it-py and mdit-py-plugins, in the Space's requirements) and `hala_release/core/prompt_template.py`
(standard library only) beside the app as `hala_segment.py`, `hala_markup.py` and `hala_prompt.py`, their imports of
one another rewritten to the vendored names, with the shipped `hala-translator` template as
`translator_prompt.json`, so the repo keeps one source and every pushed Space carries the version it was pushed
with. Staging also writes the chosen models, pinned to the commit they resolve to on the Hub, into the README
metadata (`models:`, and `preload_from_hub:` lines naming only the files the app loads at that commit) and into
`models.json`, which the app reads: the Space serves exactly the weights it preloaded.
"""

from __future__ import annotations

import ast
import re
import importlib.util
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from hala_release import __version__
from hala_release.core.errors import HalaError, UsageError
from hala_release.stages.demo.config import DemoConfig

# The Space's source ships inside the package (package data), so an installed wheel can run and push it.
SPACE_DIR = Path(str(resources.files("hala_release.resources").joinpath("space")))
# Module name in the Space -> module of this package it is copied from.
VENDORED = {"hala_segment": "segment", "hala_markup": "markup", "hala_prompt": "prompt_template"}
# A vendored module's own imports of `hala_release.core.<module>`, rewritten to the vendored name.
_VENDORED_IMPORT = re.compile(r"\bhala_release\.core\.(" + "|".join(VENDORED.values()) + r")\b")
# The shipped template the app prompts its translator with, written beside the vendored `hala_prompt` as JSON.
TRANSLATOR_TEMPLATE, PROMPT_FILE = "hala-translator", "translator_prompt.json"
MODELS_FILE = "models.json"
# What the app loads from a model repo (transformers' AutoTokenizer and AutoModelForCausalLM, safetensors only):
# the only files a Space preloads. Weights (*.safetensors, shards and their index) are matched by suffix.
PRELOAD_FILES = {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "added_tokens.json", "chat_template.jinja", "chat_template.json",
                 "tokenizer.model", "spiece.model", "vocab.json", "vocab.txt", "merges.txt"}
PRELOAD_SUFFIXES = (".safetensors", ".safetensors.index.json", ".tiktoken")
MODEL_FILE_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "*.tiktoken", "README.md"]


def default_space_dir() -> Path:
    if not (SPACE_DIR / "app.py").exists():
        raise HalaError(f"the demo Space is missing from this install ({SPACE_DIR}): reinstall hala-release, or "
                        f"pass --space DIR with the folder holding app.py")
    return SPACE_DIR


def vendored_imports(folder: Path) -> list[str]:
    """Vendored modules that the Space's Python files import (so a plain Space folder is left as it is)."""
    wanted = set()
    for path in sorted(Path(folder).glob("*.py")):
        if path.stem in VENDORED:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level
                     else [])
            wanted.update(name.split(".")[0] for name in names if name.split(".")[0] in VENDORED)
    pending = list(wanted)
    while pending:  # and the vendored modules those import
        source = _vendored_source(pending.pop()).read_text(encoding="utf-8")
        for module in _VENDORED_IMPORT.findall(source):
            name = _vendored_name(module)
            if name not in wanted:
                wanted.add(name)
                pending.append(name)
    return sorted(wanted)


def _vendored_source(name: str) -> Path:
    return Path(__file__).resolve().parents[2] / "core" / f"{VENDORED[name]}.py"


def _vendored_name(module: str) -> str:
    return next(name for name, source in VENDORED.items() if source == module)


def needs_staging(folder: Path, chat_model: str | None = None, translator: str | None = None) -> bool:
    return bool(chat_model or translator or vendored_imports(folder))


@dataclass(frozen=True)
class HubModel:
    """A model a Space serves: its repo, the revision it loads, and the files to preload (empty when unchecked)."""

    repo_id: str
    revision: str | None
    files: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.repo_id}@{self.revision}" if self.revision else self.repo_id

    def preload_line(self) -> str | None:
        """`repo_id file1,file2 commit`, the Spaces config's form for some files at one commit."""
        return f"{self.repo_id} {','.join(self.files)} {self.revision}" if self.files and self.revision else None


def preload_files(files: list[str]) -> list[str]:
    """The files of a model repo the app loads: weights, config, generation config, tokenizer (top level only)."""
    return sorted(name for name in files if "/" not in name and " " not in name and "," not in name
                  and (name in PRELOAD_FILES or name.endswith(PRELOAD_SUFFIXES)))


def _hub_model(ref_text: str, role: str, check: bool) -> HubModel:
    """A model ref a Space can load: a Hub id, optionally @revision; when `check`, it must exist, and is pinned to
    the commit the revision points at, with the files the app loads there."""
    from hala_release.core.refs import hub_errors, parse_ref

    ref = parse_ref(ref_text, "model")
    if ref.is_local:
        raise UsageError(f"--{'chat-model' if role == 'chat' else role} {ref_text!r} is a local folder, which a Space "
                         f"cannot read: push it first (hala-release push-model {ref_text} --repo-id ORG/NAME) and "
                         f"pass ORG/NAME")
    if ref.repo_type != "model" or ref.path_in_repo:
        raise UsageError(f"{ref_text!r} is not a model repo id: pass org/name or org/name@revision")
    if not check:
        return HubModel(ref.repo_id, ref.revision)
    from huggingface_hub import HfApi

    with hub_errors(ref):
        info = HfApi().repo_info(ref.repo_id, repo_type="model", revision=ref.revision)
    files = preload_files([sibling.rfilename for sibling in info.siblings or []])
    if not any(name.endswith(".safetensors") for name in files):
        raise HalaError(f"{ref.repo_id} has no .safetensors weights at {info.sha[:12]}: the Space loads safetensors "
                        f"only; push the model with `hala-release push-model` (it writes safetensors)")
    return HubModel(ref.repo_id, info.sha, tuple(files))


def stage_space(folder: Path | str, output: Path | str, *, chat_model: str | None = None,
                translator: str | None = None, check_models: bool = True) -> Path:
    """Copy a Space folder to `output` as it will be pushed: content files only, vendored modules written from
    this package, and the given models recorded in README metadata and models.json. Validated before returning."""
    from hala_release.hub.publish import check_space_folder
    from hala_release.core.refs import iter_content_files

    folder, output = Path(folder).expanduser().resolve(), Path(output).expanduser().resolve()
    check_space_folder(folder)  # errors name the user's folder, not the staging copy
    models = {role: _hub_model(ref, role, check_models)
              for role, ref in (("chat", chat_model), ("translator", translator)) if ref}
    if output.exists():
        raise HalaError(f"{output} already exists: stage into a new folder")
    for path in iter_content_files(folder):
        relative = path.relative_to(folder)
        if path.suffix in {".pyc", ".pyo"} or relative.parts[0] in {"tests", "test"} or \
                (len(relative.parts) == 1 and path.stem in VENDORED and path.suffix == ".py") or \
                relative.as_posix() == PROMPT_FILE:
            continue  # never ship caches or tests, and never a stale hand-made copy of a vendored module
        (output / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, output / relative)
    for name in vendored_imports(folder):
        _write_vendored(name, output / f"{name}.py")
        if name == "hala_prompt":
            _write_translator_prompt(output / PROMPT_FILE)
    if models:
        _record_models(output, models)
    check_space_folder(output)
    return output


def _write_vendored(name: str, target: Path) -> None:
    source = _vendored_source(name)
    header = (f"# Copied from hala_release/core/{source.name} by hala-release {__version__} when this Space was "
              f"staged.\n# Do not edit: change hala_release/core/{source.name} and push the Space again.\n")
    text = _VENDORED_IMPORT.sub(lambda match: _vendored_name(match.group(1)), source.read_text(encoding="utf-8"))
    target.write_text(header + text, encoding="utf-8")


def _write_translator_prompt(target: Path) -> None:
    """The translator's template exactly as `load_template` reads it, for the app's vendored PromptTemplate."""
    from hala_release.core.prompts import load_template

    template = load_template(TRANSLATOR_TEMPLATE)
    record = {"name": template.name, "system": template.system, "user": template.user}
    target.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _record_models(folder: Path, models: dict[str, HubModel]) -> None:
    """models.json for the app (env variables still win) and README metadata for the Hub: links, and the pinned
    files to download when the Space is built, so it starts serving sooner and loads exactly that commit."""
    from huggingface_hub import SpaceCard

    models_file = folder / MODELS_FILE
    written = json.loads(models_file.read_text(encoding="utf-8")) if models_file.exists() else {}
    for role, model in models.items():
        written[role] = model.ref
    models_file.write_text(json.dumps(written, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    card = SpaceCard.load(folder / "README.md")
    card.data.models = list(dict.fromkeys(value.partition("@")[0] for value in written.values()))
    lines = [model.preload_line() for model in models.values()]
    card.data.preload_from_hub = list(dict.fromkeys(line for line in lines if line)) or None
    card.save(folder / "README.md")


def load_app(folder: Path):
    """Import a staged Space's app.py as a module (its folder first on sys.path, for the vendored modules)."""
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location("hala_demo_app", folder / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@dataclass
class RunningDemo:
    url: str
    demo: Any
    app: Any  # the app module
    staged: Path

    def wait_until_loaded(self, timeout: float = 300.0) -> None:
        for slot in self.demo.hala_app.slots.values():
            if not slot.wait(timeout):
                raise HalaError(f"the {slot.role} model {slot.name} did not load within {timeout:.0f} s")

    def close(self) -> None:
        self.demo.close()
        sys.path[:] = [entry for entry in sys.path if entry != str(self.staged)]
        shutil.rmtree(self.staged.parent, ignore_errors=True)


def _resolve_model(ref_text: str) -> tuple[str, str]:
    """Local path for the app and the name the page shows (Hub id @ pinned commit, or the folder)."""
    from hala_release.artifacts.inputs import read_config, require_safetensors
    from hala_release.core.refs import resolve

    resolved = resolve(ref_text, "model", allow_patterns=MODEL_FILE_PATTERNS)
    read_config(resolved.path, ref_text)
    require_safetensors(resolved.path, ref_text)
    name = f"{resolved.hub_id}@{resolved.pin[:12]}" if resolved.hub_id else str(resolved.path)
    return str(resolved.path), name


def launch_demo(chat_model: str | None = None, translator: str | None = None, *, block: bool = True,
                **options: Any) -> RunningDemo:
    """Run the Space locally: stage it (vendored segmentation), resolve both models through refs (Hub snapshot
    pinned to a commit, or a folder), and serve on host:port. With block=False it returns once serving.
    `options`: the rest of DemoConfig's fields (host, port, space)."""
    config = DemoConfig(chat_model=chat_model, translator=translator, **options)
    host, port, space = config.host, config.port, config.space
    folder = Path(space).expanduser().resolve() if space else default_space_dir()
    given = {role: ref for role, ref in (("chat", chat_model), ("translator", translator)) if ref}
    resolved = {role: _resolve_model(ref) for role, ref in given.items()}  # a wrong ref fails before any import
    work = Path(tempfile.mkdtemp(prefix="hala-demo-"))
    try:
        staged = stage_space(folder, work / "space", check_models=False)
        module = load_app(staged)
        for role, ref in module.configured_models().items():  # the app's own defaults (env, models.json, HALA)
            if role not in resolved:
                resolved[role] = _resolve_model(ref)
        demo = module.build_demo(resolved["chat"][0], resolved["translator"][0],
                                 names={role: name for role, (_, name) in resolved.items()})
        module.launch(demo, server_name=host, server_port=port, prevent_thread_lock=True, quiet=not block,
                      ssr_mode=False)
    except BaseException:
        sys.path[:] = [entry for entry in sys.path if entry != str(work / "space")]
        shutil.rmtree(work, ignore_errors=True)
        raise
    running = RunningDemo(url=demo.local_url, demo=demo, app=module, staged=staged)
    if block:
        try:
            demo.block_thread()
        finally:
            running.close()
    return running
