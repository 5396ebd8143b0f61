"""`hala-release submit`: put a model in a leaderboard's evaluation queue, exactly as the leaderboard's own form does.

The Open Arabic LLM Leaderboard v2 queues a model by one JSON request file in its requests dataset; its evaluation
cluster picks up files whose status is PENDING. We write the same file, in the same place, as one commit, after the
checks the form makes (the model is on the Hub at a commit, has a licence, loads from safetensors, and is not
already queued at that commit and precision).

Source followed: the OALL v2 Space (OALL/Open-Arabic-LLM-Leaderboard) is a copy of the Open LLM Leaderboard's
gradio submission code, which is not in our stored sources; we followed that code as it was when OALL v2 forked
it: open-llm-leaderboard/open_llm_leaderboard `src/submission/submit.py`, `check_validity.py`, `display/utils.py`
and `app.py` at commit d1ea1bfa28e34f1a3bac50f9a63dec00d3dd625a (2024-10-15, "check_chat_template (#984)", read in
the mirror leaderboard-modeles-IA-francais/leaderboard), plus the demo-leaderboard template's `likes`, `license` and
`private` fields (same file, commit 0a3530ac5d0d4e5180b8582f8f7cd4db21213778). The model-type strings are
OALL v2's (`"💬 : chat models (RLHF, DPO, IFT, ...)"`, `ModelType.to_str(" : ")`), and the requests dataset is
`OALL/requests_v2`, as public scripts that submit to OALL v2 read them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hala_release.core.errors import HalaError, UsageError


@dataclass(frozen=True)
class Leaderboard:
    title: str
    space: str
    requests_repo: str


LEADERBOARDS = {
    "oall-v2": Leaderboard("Open Arabic LLM Leaderboard v2", "OALL/Open-Arabic-LLM-Leaderboard", "OALL/requests_v2"),
}
# The form's dropdowns (display/utils.py: Precision, WeightType, ModelType.to_str(" : ")).
PRECISIONS = ("float16", "bfloat16", "8bit", "4bit", "GPTQ")
WEIGHT_TYPES = ("Original", "Delta", "Adapter")
MODEL_TYPES = {
    "pretrained": "🟢 : pretrained",
    "continuously-pretrained": "🟩 : continuously pretrained",
    "fine-tuned": "🔶 : fine-tuned on domain-specific datasets",
    "chat": "💬 : chat models (RLHF, DPO, IFT, ...)",
    "merges": "🤝 : base merges and moerges",
}
QUEUED = ("PENDING", "RUNNING")  # a request in these states is still to be evaluated
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
_ARGUMENT = {"cli": {"argument": True}}


class SubmitOptions(BaseModel):
    """Every option of `hala-release submit`: the submission form's fields, with its choices and defaults."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="Model to queue: org/name[@rev] on the Hub, or a local folder that "
                                   "hala-release pushed or pulled (and that has not changed since).",
                       json_schema_extra=_ARGUMENT)
    leaderboard: str = Field("oall-v2", description=f"Leaderboard: {', '.join(LEADERBOARDS)} (the Open Arabic LLM "
                                                    f"Leaderboard v2).")
    requests_repo: str | None = Field(None, description="Requests dataset to write the request to, org/name "
                                                        "(default: the leaderboard's own, OALL/requests_v2).")
    precision: str | None = Field(None, description=f"{', '.join(PRECISIONS)} (default: the model's float16 or "
                                                    f"bfloat16 dtype, else float16 as the form).")
    weight_type: str = Field("Original", description=f"{', '.join(WEIGHT_TYPES)}; Delta and Adapter need "
                                                     f"--base-model.")
    model_type: str = Field("fine-tuned", description=f"{', '.join(MODEL_TYPES)} (the form's model types).")
    base_model: str | None = Field(None, description="Base model of Delta or Adapter weights, org/name.")
    chat_template: bool | None = Field(None, description="Evaluate with the model's chat template (default: on for "
                                                         "--model-type chat, as the form).",
                                       json_schema_extra={"cli": {"flags": "--chat-template/--no-chat-template"}})


@dataclass
class SubmitResult:
    requests_repo: str
    path_in_repo: str
    request: dict[str, Any]
    commit_url: str | None


def check_choices(options: SubmitOptions) -> Leaderboard:
    """Every option is one the form offers; one line naming the valid values otherwise."""
    def one_of(flag: str, value: str, valid) -> None:
        if value not in valid:
            raise UsageError(f"{flag} {value!r} is not one of the form's choices: {', '.join(valid)}")

    one_of("--leaderboard", options.leaderboard, LEADERBOARDS)
    if options.precision is not None:
        one_of("--precision", options.precision, PRECISIONS)
    one_of("--weight-type", options.weight_type, WEIGHT_TYPES)
    one_of("--model-type", options.model_type, MODEL_TYPES)
    if options.weight_type != "Original" and not options.base_model:
        raise UsageError(f"--weight-type {options.weight_type} needs --base-model org/name (the model the weights "
                         f"apply to)")
    return LEADERBOARDS[options.leaderboard]


def hub_model(ref_text: str, token: str | None) -> tuple[str, str | None]:
    """(repo id, revision) of the commit MODEL names: a Hub ref as written, a local folder by its recorded origin."""
    from hala_release.artifacts.build import hub_origin
    from hala_release.core.refs import parse_ref, resolve

    ref = parse_ref(ref_text, "model")
    if not ref.is_local:
        if ref.path_in_repo:
            raise UsageError(f"{ref_text!r} names a file inside a repo: submit the model repo, org/name[@rev]")
        return ref.repo_id, ref.revision
    origin = hub_origin(resolve(ref, "model", token=token))
    if origin is None:
        raise HalaError(f"{ref_text} is not on the Hub as it is (never pushed or pulled, or changed since): push it "
                        f"with `hala-release push-model {ref_text} --repo-id ORG/NAME`, then submit ORG/NAME")
    return origin["repo_id"], origin["revision"]


def _weight_files(files: list[str], repo_id: str, weight_type: str) -> None:
    """The model loads from safetensors: config (or adapter config), *.safetensors, and no pickle weights."""
    names = {f.rsplit("/", 1)[-1] for f in files}
    config = "adapter_config.json" if weight_type == "Adapter" else "config.json"
    if config not in names:
        kind = "adapter" if weight_type == "Adapter" else "model"
        raise HalaError(f"{repo_id} has no {config}: it is not a transformers {kind}; push the folder that "
                        f"save_pretrained wrote")
    pickles = sorted(f for f in files if f.endswith(PICKLE_SUFFIXES) and f.rsplit("/", 1)[-1] != "training_args.bin")
    if pickles:
        raise HalaError(f"{repo_id} holds pickle weights ({', '.join(pickles[:3])}): the leaderboard loads safetensors "
                        f"only; save with save_pretrained(safe_serialization=True) and delete the pickle files")
    if not any(f.endswith(".safetensors") for f in files):
        raise HalaError(f"{repo_id} has no *.safetensors weights: save with save_pretrained(safe_serialization=True) "
                        f"and push again")


def _read_json(api, repo_id: str, sha: str, path: str, repo_type: str = "model") -> dict:
    from huggingface_hub import hf_hub_download

    local = hf_hub_download(repo_id, path, repo_type=repo_type, revision=sha, token=api.token)
    with open(local, encoding="utf-8") as handle:
        return json.load(handle)


def _licence(api, repo_id: str, sha: str, files: list[str]) -> str:
    from huggingface_hub import hf_hub_download

    from hala_release.artifacts.card import parse_card_metadata

    license_ = None
    if "README.md" in files:
        with open(hf_hub_download(repo_id, "README.md", revision=sha, token=api.token), encoding="utf-8") as handle:
            license_ = parse_card_metadata(handle.read()).get("license")
    if not license_:
        raise HalaError(f"{repo_id} has no licence in its card: add `license:` to README.md's metadata (hala-release "
                        f"push-model --license ID does), then submit the new revision")
    return str(license_)


def parameter_count(api, repo_id: str, revision: str | None) -> int:
    """Parameters counted from the safetensors headers, as the form does (`get_safetensors_metadata`)."""
    return sum(api.get_safetensors_metadata(repo_id, revision=revision).parameter_count.values())


def params_billions(count: int, precision: str) -> float:
    """The form's `params`: billions, 3 decimals, times 8 for GPTQ (check_validity.get_model_size)."""
    return (8 if precision == "GPTQ" else 1) * round(count / 1e9, 3)


def _default_precision(config: dict) -> str:
    dtype = str(config.get("dtype") or config.get("torch_dtype") or "")
    return dtype if dtype in ("float16", "bfloat16") else "float16"


def request_path(model: str, precision: str, weight_type: str) -> str:
    """Where the form puts a request: `<org>/<name>_eval_request_False_<precision>_<weight type>.json`."""
    org, _, name = model.rpartition("/")
    return f"{org + '/' if org else ''}{name}_eval_request_False_{precision}_{weight_type}.json"


def queued_request(api, requests_repo: str, model: str, revision: str, precision: str) -> tuple[str, str] | None:
    """(path, status) of a request for the same model, revision and precision still waiting or running, if any."""
    from hala_release.core.refs import hub_errors

    org, _, name = model.rpartition("/")
    prefix = f"{org + '/' if org else ''}{name}_eval_request_"
    with hub_errors(repo_id=requests_repo, repo_type="dataset", action="read the requests in"):
        info = api.dataset_info(requests_repo)
        for path in sorted(f.rfilename for f in info.siblings or [] if f.rfilename.startswith(prefix)):
            if not path.endswith(".json"):
                continue
            request = _read_json(api, requests_repo, info.sha, path, "dataset")
            same = (request.get("model"), request.get("revision"), request.get("precision"))
            if same == (model, revision, precision) and request.get("status") in QUEUED:
                return path, str(request["status"])
    return None


def build_request(options: SubmitOptions, *, model: str, info, config: dict, license_: str, params: float,
                  precision: str, submitted_time: str, sender: str | None) -> dict[str, Any]:
    """The request file's fields, in the form's order (eval_entry in submit.py), plus the template's extras."""
    chat = options.chat_template if options.chat_template is not None else options.model_type == "chat"
    return {
        "model": model,
        "base_model": options.base_model or "",
        "revision": info.sha,  # the form pins the exact commit, whatever branch or tag was typed
        "precision": precision,
        "params": params,
        "architectures": ";".join(config.get("architectures") or []) or "?",
        "weight_type": options.weight_type,
        "status": "PENDING",
        "submitted_time": submitted_time,
        "model_type": MODEL_TYPES[options.model_type],
        "job_id": -1,
        "job_start_time": None,
        "use_chat_template": chat,
        "sender": sender,
        "likes": info.likes or 0,
        "license": license_,
        "private": False,
    }


def submit_model(options: SubmitOptions, *, token: str | None = None) -> SubmitResult:
    """Check the model as the leaderboard's form does, then commit its request file to the requests dataset."""
    import datetime as dt

    from huggingface_hub import CommitOperationAdd, HfApi, get_token

    from hala_release.core.refs import check_repo_id, hub_errors

    board = check_choices(options)
    requests_repo = check_repo_id(options.requests_repo or board.requests_repo, "--requests-repo")
    token = token or get_token()
    if not token:
        raise HalaError("no Hugging Face token found: log in with `hf auth login` or set HF_TOKEN to a token that may "
                        f"write to {requests_repo}")
    api = HfApi(token=token)
    repo_id, revision = hub_model(options.model, token)
    with hub_errors(repo_id=repo_id, repo_type="model", revision=revision, action="read"):
        info = api.model_info(repo_id, revision=revision)
        files = [s.rfilename for s in info.siblings or []]
        _weight_files(files, repo_id, options.weight_type)
        license_ = _licence(api, repo_id, info.sha, files)
        config = _read_json(api, repo_id, info.sha, "config.json") if "config.json" in files else {}
        count = parameter_count(api, repo_id, info.sha) if options.weight_type != "Adapter" else 0
    if options.base_model:
        base = check_repo_id(options.base_model, "--base-model")
        with hub_errors(repo_id=base, repo_type="model", action="read the base model"):
            api.model_info(base)
            if options.weight_type == "Adapter":  # the form sizes an adapter by its base model
                count = parameter_count(api, base, None)
    precision = options.precision or _default_precision(config)
    params = params_billions(count, precision)
    queued = queued_request(api, requests_repo, repo_id, info.sha, precision)
    if queued:
        raise HalaError(f"{repo_id}@{info.sha[:12]} in {precision} is already queued on {board.title} ({queued[1]}: "
                        f"{queued[0]}): wait for that evaluation, or submit another revision or --precision")
    with hub_errors(repo_id=requests_repo, repo_type="dataset", action="write the request to"):
        sender = api.whoami().get("name")
        request = build_request(options, model=repo_id, info=info, config=config, license_=license_, params=params,
                                precision=precision, sender=sender,
                                submitted_time=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
        path = request_path(repo_id, precision, options.weight_type)
        commit = api.create_commit(requests_repo, repo_type="dataset", commit_message=f"Add {repo_id} to eval queue",
                                   operations=[CommitOperationAdd(path, json.dumps(request).encode("utf-8"))])
    return SubmitResult(requests_repo, path, request, getattr(commit, "commit_url", None))
