"""The `demo` pipeline stage: the Space folder staged with the recipe's chat model and translator, as a space
artifact (provenance beside the Space's own README)."""

from __future__ import annotations

import json
from pathlib import Path

from hala_release.artifacts.build import build_artifact
from hala_release.core.provenance import CardFacts
from hala_release.stages.demo.config import DemoSpaceConfig
from hala_release.stages.demo.run import MODELS_FILE, default_space_dir, stage_space


def run_demo(config: DemoSpaceConfig) -> Path:
    """Stage the Space with its models: Hub refs are written into its card and models.json (a pushable Space);
    local folders only into models.json, for `hala-release demo --space` on this machine."""
    from hala_release.core.refs import folder_content_hash, resolve

    space = Path(config.space).expanduser().resolve() if config.space else default_space_dir()
    models = {"chat": config.chat_model, "translator": config.translator}
    resolved = {role: resolve(ref, "model") for role, ref in models.items()}
    stage_config = {"chat_model": config.chat_model, "translator": config.translator, "space": str(space)}
    inputs = {"chat_model": resolved["chat"].provenance(), "translator": resolved["translator"].provenance(),
              "space": {"ref": str(space), "source": "local", "repo_type": "space", "path": str(space),
                        "pin": folder_content_hash(space)}}
    card = CardFacts(kind="space", title="HALA demo Space",
                     summary="The Gradio Space serving the chat model and the translator of this recipe.",
                     tags=["demo", "gradio"])
    with build_artifact(config.output, stage="demo", config=stage_config, card=card, inputs=inputs,
                        overwrite=config.overwrite, render_card=False) as draft:
        staged = draft.path / ".space"  # stage_space wants a new folder; its content then moves up into the draft
        if on_hub(config):  # the commits this stage resolved (its provenance pins) are the ones the Space loads
            pinned = {role: f"{resolved[role].hub_id}@{resolved[role].pin}" for role in models}
            stage_space(space, staged, chat_model=pinned["chat"], translator=pinned["translator"])
        else:
            stage_space(space, staged, check_models=False)
            _local_models(staged, {role: str(resolved[role].path) if resolved[role].ref.is_local else ref
                                   for role, ref in models.items()})
        for item in staged.iterdir():
            item.rename(draft.path / item.name)
        staged.rmdir()
    return Path(config.output).expanduser().resolve()


def on_hub(config: DemoSpaceConfig) -> bool:
    """Whether both models are Hub refs (a pushable Space) rather than local folders."""
    from hala_release.core.refs import parse_ref

    return all(not parse_ref(ref, "model").is_local for ref in (config.chat_model, config.translator))


def _local_models(folder: Path, models: dict[str, str]) -> None:
    """models.json naming local folders; the card no longer claims the released HALA models it defaults to."""
    from huggingface_hub import SpaceCard

    (folder / MODELS_FILE).write_text(json.dumps(models, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    card = SpaceCard.load(folder / "README.md")
    card.data.models = None
    card.data.preload_from_hub = None
    card.save(folder / "README.md")
