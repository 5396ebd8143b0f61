"""lineage: the tree of everything an artifact was built from, read back from provenance files.

Every artifact's `hala_provenance.json` names its inputs with their pins (a Hub commit sha or a folder's content
hash). Following those records, locally or on the Hub (only the provenance file of each repo is downloaded, at
the pinned commit), gives the whole history down to the source datasets and base models, which have no
provenance of their own. A local input whose folder has changed since it was used is shown as such, not
followed: its provenance now describes something else.

A local input that is a Hub commit (pulled from it, or pushed as it: `artifacts.build.record_origin`) is shown and
followed as that commit: its record says so when the folder already was one when it was read (`hub_origin`), and
otherwise the folder's own origin note does while its content is still what was read. So the lineage of a pushed
artifact goes on through the Hub on a machine that never had the local folders it was built from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hala_release.core.errors import HalaError, UsageError
from hala_release.core.provenance import PROVENANCE_FILE, Provenance, read_provenance

FORMATS = ("text", "mermaid", "json")
MAX_DEPTH = 64


@dataclass
class LineageNode:
    """One artifact or source in the tree; `role` is how its parent used it."""

    name: str  # Hub repo id, local folder, or the ref as recorded
    pin: str
    source: str  # hub | local | package | server | ...
    repo_type: str | None = None
    role: str | None = None
    stage: str | None = None  # the hala-release stage that built it (None: a source without provenance)
    step: str | None = None  # the pipeline stage name, when a recipe built it
    title: str | None = None
    config_hash: str | None = None
    note: str = ""
    children: list["LineageNode"] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = {key: value for key, value in self.__dict__.items() if key != "children"}
        data["children"] = [child.to_dict() for child in self.children]
        return data

    def label(self) -> str:
        return f"{self.name}@{self.pin}" if self.source == "hub" else f"{self.name} ({self.pin})"


def build_lineage(ref: str, repo_type: str = "model", *, token: str | None = None) -> LineageNode:
    """Read the artifact named by `ref` and every input it records, recursively."""
    from hala_release.core.refs import resolve

    resolved = resolve(ref, repo_type, token=token, allow_patterns=[PROVENANCE_FILE])
    if not (resolved.path / PROVENANCE_FILE).exists():
        raise HalaError(f"{ref} has no {PROVENANCE_FILE}: it was not built by hala-release, so it has no recorded "
                        f"lineage (pass an artifact folder or repo that a hala-release stage made)")
    walker = _Walker(token)
    record = resolved.provenance()
    return walker.node(record, None, read_provenance(resolved.path), depth=0)


class _Walker:
    def __init__(self, token: str | None):
        self.token = token
        self.cache: dict[tuple, tuple[Provenance | None, str]] = {}

    def node(self, record: dict[str, Any], role: str | None, prov: Provenance | None, depth: int,
             note: str = "") -> LineageNode:
        node = LineageNode(name=_name(record), pin=str(record.get("pin")), source=str(record.get("source")),
                           repo_type=record.get("repo_type"), role=role, note=note)
        if prov is None:
            return node
        node.stage, node.title, node.config_hash = prov.stage, prov.card.title, prov.config_hash
        node.step = (prov.pipeline or {}).get("stage")
        if depth >= MAX_DEPTH:
            node.note = "too deep: not followed further"
            return node
        for child_role, child in prov.inputs.items():
            shown, child_prov, child_note = self.provenance_of_input(child)
            node.children.append(self.node(shown, child_role, child_prov, depth + 1, child_note))
        return node

    def provenance_of_input(self, record: dict[str, Any]) -> tuple[dict[str, Any], Provenance | None, str]:
        """(the record to show, its provenance, a note). A local folder that is a Hub commit is shown and followed
        as that commit; when the commit cannot be read, the folder is followed instead."""
        commit = _as_hub_commit(record)
        if commit is record:
            return (record, *self.provenance_of(record))
        how = {"pushed": "pushed as this commit", "pulled": "pulled from this commit"}.get(commit["how"], "")
        seen = f"read as local {record['path']}" + (f", {how}" if how else "")
        try:
            prov, note = self.provenance_of(commit)
        except HalaError as err:
            prov, note = self.provenance_of(record)
            return record, prov, "; ".join(filter(None, [f"its Hub commit {commit['repo_id']}@{commit['pin'][:12]} "
                                                        f"could not be read ({err})", note]))
        return commit, prov, "; ".join(filter(None, [seen, note]))

    def provenance_of(self, record: dict[str, Any]) -> tuple[Provenance | None, str]:
        key = (record.get("source"), record.get("repo_type"), record.get("repo_id") or record.get("path")
               or record.get("ref"), record.get("pin"))
        if key not in self.cache:
            self.cache[key] = self._load(record)
        return self.cache[key]

    def _load(self, record: dict[str, Any]) -> tuple[Provenance | None, str]:
        from hala_release.core.refs import folder_content_hash, resolve

        source = record.get("source")
        if source == "hub" and record.get("repo_id") and record.get("pin"):
            repo_type = record.get("repo_type") or "model"
            resolved = resolve(f"hf://{repo_type}s/{record['repo_id']}@{record['pin']}", repo_type, token=self.token,
                               allow_patterns=[PROVENANCE_FILE])
            path = resolved.path / PROVENANCE_FILE
            return (read_provenance(resolved.path), "") if path.exists() else (None, "source (no provenance)")
        if source == "local" and record.get("path"):
            folder = Path(record["path"])
            if not folder.is_dir():
                return None, "folder no longer exists"
            if not (folder / PROVENANCE_FILE).exists():
                return None, "source (no provenance)"
            if folder_content_hash(folder) != record.get("pin"):
                return None, "folder changed since it was used: not followed"
            return read_provenance(folder), ""
        return None, f"source ({source})"


def _as_hub_commit(record: dict[str, Any]) -> dict[str, Any]:
    """A local input's record as the Hub commit its folder was (see the module docstring), else as it is."""
    if record.get("source") != "local" or not record.get("path"):
        return record
    origin = record.get("hub_origin") or _folder_origin(record)
    if not origin or not origin.get("repo_id") or not origin.get("revision"):
        return record
    return {"ref": record.get("ref"), "source": "hub", "repo_type": record.get("repo_type"),
            "repo_id": origin["repo_id"], "revision": origin["revision"], "pin": origin["revision"],
            "how": origin.get("how")}


def _folder_origin(record: dict[str, Any]) -> dict[str, str] | None:
    """The origin the folder notes now, if its content when noted is the content that was read (the pin)."""
    from hala_release.artifacts.build import hub_origin
    from hala_release.core.refs import ResolvedRef, parse_ref

    folder = Path(record["path"])
    if not folder.is_dir():
        return None
    ref = parse_ref(str(folder), record.get("repo_type") or "model")
    return hub_origin(ResolvedRef(ref=ref, path=folder, pin=str(record.get("pin"))))


def _name(record: dict[str, Any]) -> str:
    if record.get("source") == "hub" and record.get("repo_id"):
        return str(record["repo_id"])
    if record.get("source") == "local" and record.get("path"):
        return str(record["path"])
    return str(record.get("ref"))


def render(node: LineageNode, format_: str = "text") -> str:
    if format_ == "text":
        return "\n".join(text_lines(node))
    if format_ == "mermaid":
        return mermaid(node)
    if format_ == "json":
        return json.dumps(node.to_dict(), indent=2, ensure_ascii=False)
    raise UsageError(f"unknown --format {format_!r}: choose {', '.join(FORMATS)}")


def _describe(node: LineageNode) -> str:
    role = f"{node.role}: " if node.role else ""
    made = ""
    if node.stage:
        made = f"  [{node.stage}" + (f", stage {node.step}" if node.step and node.step != node.stage else "") + "]"
    note = f"  ({node.note})" if node.note else ""
    return f"{role}{node.label()}{made}{note}"


def text_lines(node: LineageNode, prefix: str = "", last: bool = True, root: bool = True) -> list[str]:
    """The tree, one input per line, drawn with box characters."""
    lines = [_describe(node)] if root else [f"{prefix}{'└── ' if last else '├── '}{_describe(node)}"]
    child_prefix = "" if root else prefix + ("    " if last else "│   ")
    for index, child in enumerate(node.children):
        lines.extend(text_lines(child, child_prefix, index == len(node.children) - 1, root=False))
    return lines


def mermaid(node: LineageNode) -> str:
    """A Mermaid flowchart (inputs at the bottom), fenced so it can be pasted into a card as it is."""
    ids: dict[tuple, str] = {}
    lines = ["```mermaid", "flowchart BT"]
    edges: list[str] = []

    def visit(current: LineageNode) -> str:
        key = (current.source, current.name, current.pin)
        if key not in ids:
            ids[key] = f"n{len(ids)}"
            short = current.pin.split(":")[-1][:12]
            kind = current.stage or "source"
            label = f"{_escape(Path(current.name).name if current.source == 'local' else current.name)}<br/>{kind} · {short}"
            lines.append(f'  {ids[key]}["{label}"]')
            for child in current.children:
                edge = f"  {visit(child)} -->|{_escape(child.role or '')}| {ids[key]}"
                if edge not in edges:
                    edges.append(edge)
        return ids[key]

    visit(node)
    return "\n".join(lines + edges + ["```"])


def _escape(text: str) -> str:
    return text.replace('"', "#quot;").replace("|", "#124;")
