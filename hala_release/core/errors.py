"""One exception type for mistakes a user can fix, so the CLI can show one line instead of a traceback."""


class HalaError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""

    exit_code = 1


class UsageError(HalaError):
    """Malformed input on the command line or in a recipe."""

    exit_code = 2


def yaml_problem(err: Exception) -> str:
    """Where and what is wrong in a YAML text, on one line (PyYAML's own message spans several)."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    context = getattr(err, "context", None)
    what = f"{problem} ({context})" if context else problem
    return f"line {mark.line + 1}, column {mark.column + 1}: {what}" if mark is not None else what


def as_user_error(exc: BaseException) -> HalaError | None:
    """The one-line error for a library exception that a user mistake caused; None for anything else (a bug,
    whose traceback must stay visible). Used at the CLI entry point, after the stages' own checks."""
    for explain in (_hub_mistake, _path_mistake, _yaml_mistake, _validation_mistake):
        error = explain(exc)
        if error is not None:
            return error
    return None


def _hub_mistake(exc: BaseException) -> HalaError | None:
    from huggingface_hub.errors import HFValidationError, HfHubHTTPError

    if isinstance(exc, HFValidationError):
        return UsageError(f"{_first_line(exc)} Use a Hub id of the form org/name (letters, digits, '-', '_', '.').")
    if not isinstance(exc, HfHubHTTPError) or exc.response is None or exc.response.status_code not in {401, 403, 404}:
        return None  # other HTTP failures are not the user's doing; stages report them with context
    repo_type, repo_id, revision = _repo_of_url(str(exc.response.request.url))
    message = describe_hub_error(exc, repo_id or "(unknown)", repo_type, revision, "read")
    return HalaError(message) if message else None


def describe_hub_error(exc: BaseException, repo_id: str | None, repo_type: str, revision: str,
                       action: str) -> str | None:
    """A one-line explanation for a Hub failure, or None when the exception is not a Hub failure."""
    import httpx
    from huggingface_hub import constants
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                        OfflineModeIsEnabled, RepositoryNotFoundError, RevisionNotFoundError)

    where = f"{repo_type} repo {repo_id}"
    endpoint = constants.ENDPOINT
    if isinstance(exc, GatedRepoError):
        return (f"{where} is gated: request access on its Hub page, then log in with `hf auth login` "
                f"or set HF_TOKEN to a token of an account that was granted access")
    if isinstance(exc, RepositoryNotFoundError):
        return (f"{where} not found on {endpoint} (or it is private and your token cannot see it): check the id "
                f"and repo type, or log in with `hf auth login` / set HF_TOKEN")
    if isinstance(exc, RevisionNotFoundError):
        return f"revision {revision!r} not found in {where}: use a branch, tag or commit sha that exists"
    if isinstance(exc, OfflineModeIsEnabled):
        return f"cannot {action} {where}: HF_HUB_OFFLINE is set; unset it or pass a local folder instead"
    if isinstance(exc, LocalEntryNotFoundError):
        return (f"cannot reach {endpoint} to {action} {where} and it is not in the local cache: check your "
                f"network, or pass a local folder instead")
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        if status == 401:
            return (f"not authenticated to {action} {where}: log in with `hf auth login` or set HF_TOKEN "
                    f"to a token with access")
        if status == 403:
            access = "read" if action == "read" else "write"
            return (f"your token may not {action} {where}: log in with `hf auth login` or set HF_TOKEN to a token "
                    f"with {access} access to '{(repo_id or '').split('/')[0]}' (fine-grained tokens need that "
                    f"namespace enabled)")
        server_message = getattr(exc, "server_message", None) or ""
        detail = f": {server_message}" if server_message else ""
        return f"the Hub answered HTTP {status} when trying to {action} {where}{detail}"
    if isinstance(exc, (httpx.TransportError, ConnectionError, TimeoutError)):
        return f"cannot reach {endpoint} to {action} {where} ({type(exc).__name__}): check your network and retry"
    return None


def _repo_of_url(url: str) -> tuple[str, str | None, str]:
    """Repo type, id and revision from a Hub API or file URL (the exception does not carry them)."""
    from urllib.parse import unquote, urlsplit

    parts = [unquote(p) for p in urlsplit(url).path.split("/") if p]
    if parts[:1] == ["api"]:
        parts = parts[1:]
    repo_type = "model"
    if parts[:1] and parts[0] in ("models", "datasets", "spaces"):
        repo_type, parts = parts[0][:-1], parts[1:]
    repo_id = "/".join(parts[:2]) if len(parts) >= 2 else None
    revision = "main"
    for marker in ("revision", "resolve", "tree"):
        if marker in parts[2:] and parts.index(marker) + 1 < len(parts):
            revision = parts[parts.index(marker) + 1]
    return repo_type, repo_id, revision


def _path_mistake(exc: BaseException) -> HalaError | None:
    """A missing or unwritable path the user named; a missing file of the package itself stays a bug."""
    from pathlib import Path

    if not isinstance(exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)):
        return None
    if not exc.filename:
        return None
    package = Path(__file__).resolve().parents[1]  # hala_release/
    if Path(str(exc.filename)).resolve().is_relative_to(package):
        return None
    reason = (exc.strerror or type(exc).__name__).lower()
    return HalaError(f"{reason}: {exc.filename}: check the path (and that its folder exists and is writable)")


def _yaml_mistake(exc: BaseException) -> HalaError | None:
    import yaml

    if not isinstance(exc, yaml.YAMLError):
        return None
    mark = getattr(exc, "problem_mark", None)
    source = mark.name if mark is not None and not mark.name.startswith("<") else "a YAML file you passed"
    return UsageError(f"{source} is not valid YAML ({yaml_problem(exc)}): fix the file")


def _validation_mistake(exc: BaseException) -> HalaError | None:
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return None
    problems = "; ".join(f"{'.'.join(str(p) for p in item['loc']) or 'value'}: {item['msg']}" for item in exc.errors())
    return UsageError(f"invalid {exc.title} settings: {problems}; fix the option or recipe key named")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
