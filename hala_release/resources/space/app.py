"""HALA demo Space: chat with a HALA model and translate English <-> Arabic, keeping code and markup intact.

Runs on a Hugging Face Space (GPU when there is one, ZeroGPU through `spaces.GPU` when the `spaces` package is
there, else CPU) and locally with `hala-release demo`. It imports only gradio, transformers, torch, the standard
library, markdown-it-py, `spaces` where present, `hala_segment` (with `hala_markup`) and `hala_prompt`: hala-release's
own segmentation (`hala_release/core/segment.py`, reading CommonMark with `hala_release/core/markup.py`) and prompt template (`hala_release/core/prompt_template.py`), which
`hala-release push-space` and `hala-release demo` copy beside this file together with the translator's template
(`translator_prompt.json`, from `hala-translator.yaml`). The copies are never edited by hand; the originals are
the single source.

Settings come from environment variables (Space "Variables" on the Hub):
  HALA_CHAT_MODEL, HALA_TRANSLATOR_MODEL  Hub id (org/name or org/name@revision) or a local model folder;
                                          default: models.json beside this file, else the released HALA models
  HALA_MAX_INPUT_CHARS (4000)             longest chat message
  HALA_MAX_TRANSLATE_CHARS (6000)         longest text to translate
  HALA_MAX_INPUT_TOKENS (2048)            longest chat prompt; older turns are dropped to fit
  HALA_MAX_NEW_TOKENS (1024)              most tokens generated per reply or per translated segment
  HALA_CONCURRENCY (1), HALA_QUEUE_SIZE (32)  requests run at once per tab, requests allowed to wait
"""

from __future__ import annotations

import html
import json
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import gradio as gr

try:  # Hugging Face's `spaces` package (ZeroGPU); imported before anything touches CUDA, as ZeroGPU requires
    import spaces
except ImportError:  # a local run, or any machine without it: plain CPU/CUDA
    spaces = None

try:
    from hala_prompt import PromptTemplate
    from hala_segment import MARKER_RE, LostSpanError, join, restore, segments, split
except ImportError:  # running straight from a hala-release checkout, where the package is installed
    from hala_release.core.prompt_template import PromptTemplate
    from hala_release.core.segment import MARKER_RE, LostSpanError, join, restore, segments, split

ROLES = ("chat", "translator")
DEFAULT_MODELS = {"chat": "hammh0a/Hala-1.2B", "translator": "hammh0a/Hala-1.2B-EN-AR-Translator"}
MODEL_ENV = {"chat": "HALA_CHAT_MODEL", "translator": "HALA_TRANSLATOR_MODEL"}
MODELS_FILE = Path(__file__).with_name("models.json")
PROMPT_FILE = Path(__file__).with_name("translator_prompt.json")
DIRECTIONS = {"English → Arabic": ("en", "ar"), "Arabic → English": ("ar", "en")}
DEFAULT_SYSTEM_PROMPT = "أنت مساعد ذكي ومفيد. أجب بلغة المستخدم بوضوح وإيجاز."
CHAT_EXAMPLES = [
    "ما هي عاصمة المملكة العربية السعودية؟ أجب بجملة واحدة.",
    "اكتب بيتين من الشعر عن البحر.",
    "Explain photosynthesis in two sentences, in Arabic.",
    "Give me three tips for learning Arabic.",
]
TRANSLATE_EXAMPLES = [
    ["## Install\n\nRun `pip install hala-release`, then read https://example.com/docs.\n\n"
     "```python\nfrom hala_release import segment\nprint(segment.split('Hello'))\n```\n\n"
     "- Translation keeps **bold** text, links and code.", "English → Arabic"],
    ["الذكاء الاصطناعي يساعد الناس في التعليم والصحة والعمل.", "Arabic → English"],
]
# Arabic reads right to left and English left to right, often on the same page and in the same box, so no element
# that shows text has a fixed direction (Gradio's `rtl=` fixes one): each gets dir="auto" (JS below: the direction of
# its first strong letter, which is what getComputedStyle reports), and each paragraph within it takes its own
# (`unicode-bidi: plaintext`). Code stays left to right.
TEXT_SELECTOR = ("textarea, input[type=text], .prose p, .prose li, .prose h1, .prose h2, .prose h3, .prose blockquote, "
                 ".prose td, .prose th, .message p, .message li, td, th, button.example, .example-text, .gallery")
CSS = """
.gradio-container p, .gradio-container li, .gradio-container h1, .gradio-container h2, .gradio-container h3,
.gradio-container blockquote, .gradio-container td, .gradio-container th, .gradio-container textarea,
.gradio-container input[type=text], .gradio-container .example-text, .gradio-container .gallery {
  unicode-bidi: plaintext; text-align: start;
}
.gradio-container pre, .gradio-container code { direction: ltr; unicode-bidi: isolate; text-align: left; }
"""
# Run once when the page loads: elements Gradio adds later (messages, examples, the other tab) are marked as they come.
DIR_AUTO_JS = """
() => {
  const selector = %s;
  const mark = (root) => {
    const found = root.matches(selector) ? [root] : [];
    for (const element of found.concat(Array.from(root.querySelectorAll(selector)))) {
      if (element.getAttribute("dir") !== "auto") element.setAttribute("dir", "auto");
    }
  };
  mark(document.body);
  new MutationObserver((records) => {  // new elements, and a component resetting its own `dir`
    for (const record of records) {
      if (record.type === "attributes") mark(record.target);
      for (const node of record.addedNodes) if (node.nodeType === 1) mark(node);
    }
  }).observe(document.body, {childList: true, subtree: true, attributes: true, attributeFilter: ["dir"]});
}
""" % json.dumps(TEXT_SELECTOR)

# Seconds of GPU a request asks ZeroGPU for: a long reply (1,024 new tokens), or a 6,000-character text in batches.
GPU_SECONDS = {"chat": 90, "translate": 120}


def on_gpu(seconds: int) -> Callable:
    """`spaces.GPU(duration=seconds)` where the `spaces` package exists (a GPU is attached for each call on ZeroGPU
    hardware; elsewhere on the Hub it changes nothing), else the function as it is."""
    if spaces is None:
        return lambda function: function
    return spaces.GPU(duration=seconds)


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return max(1, int(value)) if value else default
    except ValueError:
        raise SystemExit(f"{name}={value!r} is not a whole number: fix the Space variable") from None


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; generous for people, bounded for a shared machine."""

    max_input_chars: int = 4000
    max_translate_chars: int = 6000
    max_input_tokens: int = 2048
    max_new_tokens: int = 1024
    concurrency: int = 1
    queue_size: int = 32
    translate_batch: int = 8
    stream_timeout: float = 300.0

    @classmethod
    def from_env(cls) -> "Limits":
        return cls(max_input_chars=_int_env("HALA_MAX_INPUT_CHARS", cls.max_input_chars),
                   max_translate_chars=_int_env("HALA_MAX_TRANSLATE_CHARS", cls.max_translate_chars),
                   max_input_tokens=_int_env("HALA_MAX_INPUT_TOKENS", cls.max_input_tokens),
                   max_new_tokens=_int_env("HALA_MAX_NEW_TOKENS", cls.max_new_tokens),
                   concurrency=_int_env("HALA_CONCURRENCY", cls.concurrency),
                   queue_size=_int_env("HALA_QUEUE_SIZE", cls.queue_size))


def translator_prompt() -> PromptTemplate:
    """The template HALA's translator was fine-tuned with: the staged copy of hala-release's `hala-translator`,
    else (straight from a checkout) the installed package's."""
    if PROMPT_FILE.exists():
        return PromptTemplate(**json.loads(PROMPT_FILE.read_text(encoding="utf-8")))
    from hala_release.core.prompts import load_template

    return load_template("hala-translator")


TRANSLATOR_PROMPT = translator_prompt()


def configured_models() -> dict[str, str]:
    """Model per role: environment variable, else models.json (written by push-space), else HALA's release."""
    written = json.loads(MODELS_FILE.read_text(encoding="utf-8")) if MODELS_FILE.exists() else {}
    return {role: os.environ.get(MODEL_ENV[role], "").strip() or written.get(role) or DEFAULT_MODELS[role]
            for role in ROLES}


def split_ref(ref: str) -> tuple[str, str | None]:
    """`org/name@rev` -> (org/name, rev); a local folder is returned as it is."""
    if os.path.isdir(os.path.expanduser(ref)) or ref.startswith((".", "/", "~")):
        return os.path.expanduser(ref), None
    name, _, revision = ref.partition("@")
    return name, revision or None


def model_device() -> str:
    """cuda on a GPU Space (ZeroGPU included: `spaces` makes CUDA look available and moves the model to the GPU it
    attaches for each call), else cpu."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(ref: str):
    """Tokenizer and model from the Hub or a folder: safetensors only, no remote code, GPU when available."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, revision = split_ref(ref)
    if revision is None and not os.path.isdir(path) and ref.startswith((".", "/", "~")):
        raise FileNotFoundError(f"the folder {path} does not exist")
    tokenizer = AutoTokenizer.from_pretrained(path, revision=revision, trust_remote_code=False)
    if not tokenizer.chat_template:
        raise ValueError("its tokenizer has no chat template")
    tokenizer.padding_side = "left"  # translation batches are left-padded for generation
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = model_device()
    model = AutoModelForCausalLM.from_pretrained(
        path, revision=revision, trust_remote_code=False, use_safetensors=True,
        dtype="auto" if device == "cuda" else torch.float32).to(device).eval()
    return model, tokenizer


def _escape(text: str) -> str:
    """Messages are shown as HTML; keep names and library errors literal (quotes are harmless there)."""
    return html.escape(text, quote=False)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__).rstrip(".")


_LOADING = threading.Lock()


class ModelSlot:
    """One model, loaded in a background thread so the page comes up at once; requests get the model, or a
    clear message while it is still loading or after it failed.

    With `spaces` (ZeroGPU) it loads in the calling thread instead: ZeroGPU intercepts `.to("cuda")` only in the
    main thread, and elsewhere the move would try to start CUDA in the main process, which ZeroGPU forbids."""

    def __init__(self, role: str, ref: str, name: str | None = None, loader: Callable | None = None):
        self.role, self.ref, self.name = role, ref, name or ref
        self.model = self.tokenizer = None
        self.error: str | None = None
        self.started, self.seconds = time.monotonic(), None
        self._loader = loader or load_model
        self._done = threading.Event()
        if spaces is not None:
            self._load()
        else:
            threading.Thread(target=self._load, name=f"load-{role}", daemon=True).start()

    def _load(self) -> None:
        try:
            with _LOADING:  # one model at a time: lower peak memory, and no two threads importing at once
                self.model, self.tokenizer = self._loader(self.ref)
        except Exception as err:  # noqa: BLE001 - any failure becomes a message in the page
            self.error = (f"Could not load the {self.role} model {self.name!r}: {_first_line(err)}. Set "
                          f"{MODEL_ENV.get(self.role, 'the model variable')} to a Hub model id (org/name) or a "
                          f"local model folder, then restart.")
        finally:
            self.seconds = time.monotonic() - self.started
            self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def get(self):
        if not self._done.is_set():
            raise gr.Error(_escape(f"The {self.role} model ({self.name}) is still loading "
                                   f"({time.monotonic() - self.started:.0f} s so far). Try again in a moment."),
                           title="Model loading", print_exception=False)
        if self.error:
            raise gr.Error(_escape(self.error), title="Model unavailable", print_exception=False)
        return self.model, self.tokenizer

    def status(self) -> str:
        if not self._done.is_set():
            return f"loading… ({time.monotonic() - self.started:.0f} s)"
        if self.error:
            return "⚠️ " + self.error
        return f"ready on {self.model.device.type} (loaded in {self.seconds:.0f} s)"


def _check_text(text, limit: int, what: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise gr.Error(f"{what} is empty: type something first.", print_exception=False)
    if len(text) > limit:
        raise gr.Error(f"{what} is {len(text):,} characters long; the limit is {limit:,}. Shorten it or send it "
                       f"in parts.", title="Input too long", print_exception=False)
    return text


def _content_text(content) -> str:
    """Gradio hands message content over as a string, a {"text": ...} part, or a list of such parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return content.get("text") or ""
    if isinstance(content, (list, tuple)):
        return "".join(_content_text(part) for part in content)
    return ""


def _chat_prompt(tokenizer, system: list[dict], turns: list[dict], message: str, max_tokens: int) -> str:
    """The chat template applied to the conversation, dropping the oldest turns until it fits `max_tokens`."""
    while True:
        messages = system + turns + [{"role": "user", "content": message}]
        try:
            prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        except Exception as err:  # noqa: BLE001 - e.g. a template that refuses a system prompt
            raise gr.Error(_escape(f"The chat model's template refused this conversation: {_first_line(err)}"),
                           print_exception=False) from None
        length = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        if length <= max_tokens:
            return prompt
        if not turns:
            raise gr.Error(f"This message needs {length:,} tokens with the system prompt; the limit is "
                           f"{max_tokens:,}. Shorten it.", title="Input too long", print_exception=False)
        turns = turns[2:] if len(turns) > 1 else []


class _StopOn:
    """A stopping criterion that ends generation once the listener goes away (stop button, closed page)."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


def _sampling(temperature: float, top_p: float) -> dict:
    temperature, top_p = float(temperature or 0), float(top_p or 1)
    if temperature <= 0:
        return {"do_sample": False}
    return {"do_sample": True, "temperature": min(temperature, 2.0), "top_p": min(max(top_p, 0.05), 1.0)}


def _one_line(text: str) -> str:
    """A segment is (part of) one line, so its translation must not add line breaks to the layout."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


@dataclass
class App:
    """The two tasks behind the page, free of UI code so they can be called and tested directly."""

    slots: dict[str, ModelSlot]
    limits: Limits = field(default_factory=Limits)

    def chat(self, message, history, system_prompt="", max_new_tokens=512, temperature=0.7, top_p=0.9):
        """Stream a reply from the chat model, token by token."""
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        message = _check_text(message, self.limits.max_input_chars, "Your message")
        model, tokenizer = self.slots["chat"].get()
        turns = [{"role": turn["role"], "content": _content_text(turn.get("content"))}
                 for turn in history or [] if isinstance(turn, dict) and turn.get("role") in ("user", "assistant")]
        system = [{"role": "system", "content": system_prompt.strip()}] if (system_prompt or "").strip() else []
        prompt = _chat_prompt(tokenizer, system, turns, message, self.limits.max_input_tokens)
        inputs = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").to(model.device)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True,
                                        timeout=self.limits.stream_timeout)
        stop, failure = threading.Event(), []

        def generate():
            try:
                model.generate(**inputs, streamer=streamer, pad_token_id=tokenizer.pad_token_id,
                               max_new_tokens=max(1, min(int(max_new_tokens), self.limits.max_new_tokens)),
                               stopping_criteria=StoppingCriteriaList([_StopOn(stop)]),
                               **_sampling(temperature, top_p))
            except Exception as err:  # noqa: BLE001 - reported to the user below
                failure.append(err)
                streamer.end()

        worker = threading.Thread(target=generate, name="chat-generate", daemon=True)
        worker.start()
        reply = ""
        try:
            for piece in streamer:
                reply += piece
                yield reply
        except queue.Empty:
            raise gr.Error("The model took too long to answer. Try a shorter message.", print_exception=False) from None
        finally:
            stop.set()  # the listener left (stop button, closed tab) or the reply is complete
        worker.join(timeout=5)
        if failure:
            raise gr.Error(_escape(f"Generation failed: {_first_line(failure[0])}"), print_exception=False)
        if not reply:
            yield "(the model ended its reply without any text)"

    def translate(self, text, direction="English → Arabic"):
        """Translate segment by segment, keeping code blocks, inline code, links and markup byte for byte.

        Yields (translation so far, note) after each batch, so long documents fill in progressively.
        """
        text = _check_text(text, self.limits.max_translate_chars, "The text")
        if direction not in DIRECTIONS:
            raise gr.Error(f"Unknown direction {direction!r}: choose one of {', '.join(DIRECTIONS)}.",
                           print_exception=False)
        model, tokenizer = self.slots["translator"].get()
        source, target = DIRECTIONS[direction]
        started = time.monotonic()
        pieces = split(text)
        units = list(dict.fromkeys(segment.text for segment in segments(pieces)))
        by_text = {segment.text: segment for segment in segments(pieces)}
        done: dict[str, str] = {}
        split_up = kept = 0
        if not units:
            yield text, "Nothing to translate: the text is code, numbers or markup only, kept as written."
            return
        for start in range(0, len(units), self.limits.translate_batch):
            batch = units[start:start + self.limits.translate_batch]
            outputs = self._generate(model, tokenizer, [self._prompt(unit, source, target) for unit in batch])
            lost = []
            for unit, output in zip(batch, outputs):
                output = _one_line(output)
                if not output:
                    done[unit], kept = unit, kept + 1  # an empty answer: show the source rather than lose it
                    continue
                try:
                    restore(by_text[unit], output)
                    done[unit] = output
                except LostSpanError:
                    lost.append(unit)
            if lost:  # the model dropped a ⟦n⟧ marker: translate the text between the markers separately
                done.update(self._translate_around_markers(model, tokenizer, lost, source, target))
                split_up += len(lost)
            yield join(pieces, done), self._note(len(done), len(units), started, model, split_up, kept)

    @staticmethod
    def _prompt(text: str, source: str, target: str) -> list[dict[str, str]]:
        return TRANSLATOR_PROMPT.messages(text, source, target)

    def _translate_around_markers(self, model, tokenizer, units, source, target) -> dict[str, str]:
        parts_of = {unit: MARKER_RE.split(unit) for unit in units}  # text, marker number, text, ...
        fragments = list(dict.fromkeys(
            part.strip() for parts in parts_of.values() for part in parts[::2] if any(c.isalpha() for c in part)))
        answers = {}
        for start in range(0, len(fragments), self.limits.translate_batch):
            batch = fragments[start:start + self.limits.translate_batch]
            outputs = self._generate(model, tokenizer, [self._prompt(f, source, target) for f in batch])
            for fragment, output in zip(batch, outputs):
                clean = _one_line(MARKER_RE.sub("", output).replace("⟦", "").replace("⟧", ""))
                answers[fragment] = clean or fragment
        result = {}
        for unit, parts in parts_of.items():
            out = []
            for index, part in enumerate(parts):
                if index % 2:
                    out.append(f"⟦{part}⟧")
                elif part.strip() in answers:
                    lead, trail = part[:len(part) - len(part.lstrip())], part[len(part.rstrip()):]
                    out.append(lead + answers[part.strip()] + trail)
                else:
                    out.append(part)
            result[unit] = "".join(out)
        return result

    def _generate(self, model, tokenizer, prompts: list[list[dict[str, str]]]) -> list[str]:
        """Greedy generation for a batch of prompts (chat messages) through the model's chat template."""
        import torch

        texts = [tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
                 for messages in prompts]
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        width = batch["input_ids"].shape[1]
        try:
            with torch.inference_mode():
                output = model.generate(**batch, do_sample=False, pad_token_id=tokenizer.pad_token_id,
                                        max_new_tokens=min(self.limits.max_new_tokens, 2 * width + 32))
        except Exception as err:  # noqa: BLE001
            raise gr.Error(_escape(f"Translation failed: {_first_line(err)}"), print_exception=False) from None
        return tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)

    @staticmethod
    def _note(done: int, total: int, started: float, model, split_up: int, kept: int) -> str:
        note = (f"{done} of {total} distinct segment(s) translated in {time.monotonic() - started:.1f} s on "
                f"{model.device.type}; code blocks, inline code, links and markup are kept exactly as written.")
        if split_up:
            note += f" {split_up} segment(s) lost a placeholder and were translated in parts around it."
        if kept:
            note += f" {kept} segment(s) came back empty and are shown untranslated."
        return note

    def status(self) -> str:
        lines = []
        for role, label in (("chat", "Chat model"), ("translator", "Translator")):
            slot = self.slots[role]
            lines.append(f"**{label}** `{_escape(slot.name)}`: {_escape(slot.status())}")
        return "  \n".join(lines)

    def settled(self) -> bool:
        return all(slot._done.is_set() for slot in self.slots.values())


# The apps this process serves, by key: ZeroGPU pickles a GPU function's arguments into the worker it forks, so
# these functions get the key and plain values, and find the app (models, locks, threads) in the forked memory.
APPS: dict[str, App] = {}


@on_gpu(GPU_SECONDS["chat"])
def chat_on_gpu(key: str, message, history, system_prompt, max_new_tokens, temperature, top_p):
    """The chat reply, streamed; on ZeroGPU it runs on the GPU attached for this call."""
    yield from APPS[key].chat(message, history, system_prompt, max_new_tokens, temperature, top_p)


@on_gpu(GPU_SECONDS["translate"])
def translate_on_gpu(key: str, text, direction):
    """The translation, batch by batch; on ZeroGPU it runs on the GPU attached for this call."""
    yield from APPS[key].translate(text, direction)


def build_demo(chat_model: str | None = None, translator: str | None = None, *, names: dict | None = None,
               limits: Limits | None = None, loader: Callable | None = None) -> gr.Blocks:
    """The page: a Chat tab and a Translate tab over two models that load in the background.

    `names` are what the page shows for each role (e.g. a Hub id and its pinned commit for a local snapshot).
    """
    # transformers imports its classes lazily, which is not safe from several threads at once: import here.
    from transformers import (AutoModelForCausalLM, AutoTokenizer, StoppingCriteriaList,  # noqa: F401
                              TextIteratorStreamer)

    refs = configured_models()
    refs.update({role: ref for role, ref in (("chat", chat_model), ("translator", translator)) if ref})
    names = names or {}
    slots: dict[str, ModelSlot] = {}
    for role in ROLES:  # one model serves both tabs when both roles name it
        same = [slot for slot in slots.values() if slot.ref == refs[role]]
        slots[role] = same[0] if same else ModelSlot(role, refs[role], names.get(role), loader)
    app = App(slots, limits or Limits.from_env())
    limits = app.limits
    key = str(id(app))
    APPS[key] = app

    def chat(message, history, system_prompt="", max_new_tokens=512, temperature=0.7, top_p=0.9):
        yield from chat_on_gpu(key, message, history, system_prompt, max_new_tokens, temperature, top_p)

    def translate(text, direction="English → Arabic"):
        yield from translate_on_gpu(key, text, direction)

    with gr.Blocks(title="HALA: Arabic chat and translation", analytics_enabled=False, fill_height=True) as demo:
        gr.Markdown("# HALA · حلا\nArabic-centric chat and English ↔ Arabic translation with the "
                    "[HALA models](https://arxiv.org/abs/2509.14008).")
        status = gr.Markdown(app.status(), elem_id="hala-status")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                gr.ChatInterface(
                    chat,
                    chatbot=gr.Chatbot(height=420, elem_id="hala-chatbot", buttons=["copy"],
                                       placeholder="اكتب رسالتك بالعربية أو بالإنجليزية · Write in Arabic or English"),
                    textbox=gr.Textbox(placeholder="اكتب رسالة… / Type a message…", show_label=False,
                                       submit_btn=True, stop_btn=True, elem_id="hala-chat-input"),
                    additional_inputs=[
                        # render=False: ChatInterface places them in its accordion under the chat
                        gr.Textbox(DEFAULT_SYSTEM_PROMPT, label="System prompt", lines=2, render=False,
                                   elem_id="hala-system-prompt"),
                        gr.Slider(1, max(2, limits.max_new_tokens), value=min(512, limits.max_new_tokens), step=1,
                                  label="Max new tokens", render=False, elem_id="hala-max-new-tokens"),
                        gr.Slider(0.0, 1.5, value=0.7, step=0.05, label="Temperature (0 = greedy)",
                                  render=False, elem_id="hala-temperature"),
                        gr.Slider(0.05, 1.0, value=0.9, step=0.05, label="Top-p", render=False, elem_id="hala-top-p"),
                    ],
                    additional_inputs_accordion=gr.Accordion("System prompt and sampling", open=False, render=False),
                    examples=[[example] for example in CHAT_EXAMPLES],
                    cache_examples=False,
                    api_name="chat",
                    concurrency_limit=limits.concurrency,
                    fill_height=False,
                )
            with gr.Tab("Translate", id="translate"):
                direction = gr.Radio(list(DIRECTIONS), value="English → Arabic", label="Direction",
                                     elem_id="hala-direction")
                with gr.Row(equal_height=True):
                    source = gr.Textbox(label="Text", lines=10, max_lines=30, elem_id="hala-source",
                                        placeholder="Markdown, code and links are kept as they are.")
                    target = gr.Textbox(label="Translation", lines=10, max_lines=30, interactive=False,
                                        buttons=["copy"], elem_id="hala-target")
                button = gr.Button("Translate", variant="primary", elem_id="hala-translate")
                note = gr.Markdown(elem_id="hala-note")
                gr.Examples(TRANSLATE_EXAMPLES, inputs=[source, direction], cache_examples=False)
                button.click(translate, inputs=[source, direction], outputs=[target, note],
                             api_name="translate", concurrency_limit=limits.concurrency)
        timer = gr.Timer(2.0, active=not app.settled())

        def refresh():
            return app.status(), gr.Timer(active=not app.settled())

        timer.tick(refresh, outputs=[status, timer], queue=False, show_progress="hidden",
                   api_visibility="private")
        demo.load(refresh, outputs=[status, timer], queue=False, show_progress="hidden", api_visibility="private")
    demo.hala_app = app  # for the local runner and tests: wait for the models, call the tasks directly
    return demo


def launch(demo: gr.Blocks, **kwargs):
    """Queue with bounded concurrency and waiting room, then serve. No file uploads, no extra served paths."""
    limits = demo.hala_app.limits
    demo.queue(default_concurrency_limit=limits.concurrency, max_size=limits.queue_size)
    theme = gr.themes.Soft(primary_hue="emerald",
                           font=["system-ui", "Segoe UI", "Noto Sans Arabic", "DejaVu Sans", "sans-serif"],
                           font_mono=["ui-monospace", "DejaVu Sans Mono", "monospace"])
    return demo.launch(css=CSS, js=DIR_AUTO_JS, theme=theme, max_file_size="1mb", **kwargs)


if __name__ == "__main__":
    launch(build_demo())
