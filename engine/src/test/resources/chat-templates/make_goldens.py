"""Makes golden.json: chat templates rendered and tokenized by Hugging Face transformers.

Needs Python 3.10+ with `transformers` (made with transformers 5.18.0, tokenizers 0.23.2,
jinja2 3.1.6; no torch needed). Run from the repository root:

    python engine/src/test/resources/chat-templates/make_goldens.py

It rewrites engine/src/test/resources/chat-templates/golden.json. ChatTemplateGoldenTest (engine)
checks the project's Jinjava rendering and tokenization against it, token for token.

The tokenizer is the test model's, models/stories260K, loaded with
PreTrainedTokenizerFast.from_pretrained: that uses tokenizer.json as it is (the script checks that
it reproduces the model folder's SentencePiece goldens, golden/tokenize*.jsonl). AutoTokenizer is
not used on purpose: in transformers 5 it builds a LlamaTokenizer that replaces tokenizer.json's
normalizer (Metaspace pre-tokenizer instead), and that disagrees with the SentencePiece goldens on
about 770 of their 2,028 texts (runs of spaces, leading and trailing spaces).

The templates are the *.jinja files next to this script, read byte for byte:

  llama3.jinja           meta-llama/Meta-Llama-3-8B-Instruct's chat_template
  qwen2.jinja            Qwen/Qwen2-7B-Instruct's (ChatML with a default system prompt)
  zephyr.jinja           HuggingFaceH4/zephyr-7b-beta's (also TinyLlama-Chat's); several lines,
                         renders right only with trim_blocks
  chatml-indented.jinja  qwen2.jinja's ChatML with indented block tags and comments; renders
                         the same text as qwen2.jinja only with trim_blocks and lstrip_blocks
  features.jinja         not a model's: what models' templates use of transformers' Jinja set-up
                         (namespace, slices, loop controls, raise_exception, strftime_now,
                         tojson, {% generation %}, a trailing newline)

stories260K has none of these templates' markers (<|eot_id|>, <|im_start|>, ...) in its
vocabulary: they render as text and are tokenized as ordinary pieces. bos_token and eos_token are
the tokenizer's (<s>, </s>), which are special tokens of its vocabulary.

For every template and conversation a case records:
  text   apply_chat_template(messages, tokenize=False, add_generation_prompt=...)
  ids    apply_chat_template(messages, tokenize=True, ...)["input_ids"]: transformers 5 returns
         a BatchEncoding by default (return_dict=True); the plain list of ids is recorded. It
         tokenizes with add_special_tokens=False, so no BOS is added: a BOS appears only where the
         template writes bos_token (llama3.jinja). The script checks that this is so.
A case that features.jinja refuses (raise_exception) records "error", transformers' message,
instead of text and ids. For conversations that end with an assistant turn and no generation
prompt, a case also records:
  target_spans  [start, end) character (code point) offsets in text of each assistant turn's
                targets: from the end of the text rendered for the turns before it with the
                generation prompt to the end of the text rendered up to and including it (the
                assistant's content and the end-of-turn text, not the header)
  target_texts  text[start:end], checked here against what each template should give (llama3:
                content stripped + <|eot_id|>; ChatML: content + <|im_end|> + newline; zephyr:
                content + </s> + newline)
  target_mask   per token of ids: 1 where the token's character offsets (offset_mapping of the
                same tokenization) overlap a target span, else 0; for features.jinja, checked
                to equal transformers' return_assistant_tokens_mask ({% generation %} blocks)
or "prefix_property": false where the conversation before an answer, with the generation prompt,
is not a prefix of the conversation up to the answer (features.jinja skips an empty answer).
float_repr holds Python's repr of some floats (tojson writes floats so).
"""

import json
import pathlib
import sys

import jinja2
import tokenizers
import transformers
from transformers import PreTrainedTokenizerFast

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[4]  # engine/src/test/resources/chat-templates -> repository root
MODEL = ROOT / "models" / "stories260K"

TEMPLATES = ["llama3", "qwen2", "zephyr", "chatml-indented", "features"]

SYSTEM = {"role": "system", "content": "You are a kind storyteller."}
U1 = {"role": "user", "content": "Tell me a story about a cat."}
A1 = {"role": "assistant", "content": "Once upon a time, there was a little cat named Tom."}
U2 = {"role": "user", "content": "What did Tom like?"}
A2 = {"role": "assistant", "content": "Tom liked to play with a red ball."}

FLOATS = [2.5, 1e-05, 0.0001, 0.1, 1 / 3, 100.0, 1e15, 1e16, 123456789012345678.0, -2.5e-10, -0.0,
          5e-324, 1.7976931348623157e308, 2e-3, 9007199254740993.0, 1e22, 1e23]

# conversations that features.jinja refuses (raise_exception): recorded with transformers' message
REFUSED = {
    "system-later": [U1, A1, SYSTEM, U2],
    "not-alternating": [U1, U2],
}

CONVERSATIONS = {
    "system-user-assistant": [SYSTEM, U1, A1],
    "multi-turn": [SYSTEM, U1, A1, U2, A2],
    "no-system": [U1, A1, U2, A2],
    "ends-with-user": [SYSTEM, U1, A1, U2],
    "user-only": [U1],
    "whitespace-and-unicode": [
        {"role": "system", "content": "  Be brief.\n\nUse short words.  "},
        {"role": "user", "content": "\tLine one\nLine two  \n"},
        {"role": "assistant", "content": "\u00a0Caf\u00e9 \u00fcber na\u00efve \u4e2d\u6587 \U0001F600\n\n  done.\u3000"},
        {"role": "user", "content": " x  y   z "},
        {"role": "assistant", "content": "\n\nLeading newlines and a trailing tab\t"},
    ],
    # whitespace that Python's str.strip removes and Java's String.trim does not, and the reverse
    "edge-whitespace": [
        {"role": "user", "content": "\u2003\u0085hi\u000b\u202f"},
        {"role": "assistant", "content": "\u0001a bell, a no-break space\u00a0\u2007\u0000"},
    ],
    # more turns than features.jinja renders (it breaks out of its loop after 5)
    "long": [U1, A1, U2, A2, U1, A1, U2],
    "empty-answer": [U1, {"role": "assistant", "content": ""}, U2, A2],
    # template syntax inside a message is text, not rendered again
    "template-syntax-in-content": [
        {"role": "user", "content": "What is {{ 6 * 7 }}? {% if true %}yes{% endif %}"},
        {"role": "assistant", "content": "It is {{ messages }} and {# not a comment #}."},
    ],
}


def expected_target_text(template, content):
    if template == "llama3":
        return content.strip() + "<|eot_id|>"  # the template's | trim is Python's str.strip
    if template == "features":
        return content.strip() + "</s>"
    if template == "zephyr":
        return content + "</s>\n"
    return content + "<|im_end|>\n"


def overlaps(token, span):
    """Whether a token's [start, end) characters overlap a span (an empty token: lies in it)."""
    (ts, te), (s, e) = token, span
    return s <= ts < e if ts == te else ts < e and s < te


def check_tokenizer(tok):
    n = 0
    for name in ["tokenize.jsonl", "tokenize_many.jsonl"]:
        for line in (MODEL / "golden" / name).read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            got = tok(rec["text"])["input_ids"]
            if got != rec["ids"]:
                sys.exit(f"the tokenizer does not reproduce {name} on {rec['text']!r}: {got} != {rec['ids']}")
            n += 1
    return n


def add_targets(tok, name, case, offsets):
    """The assistant turns' target spans, texts and token mask of a conversation ending in an answer.

    Where the conversation before an answer, with the generation prompt, is not a prefix of the
    conversation up to the answer (features.jinja skips an empty answer), the case records
    "prefix_property": false instead: such a conversation cannot be split into turns.
    """
    messages, text = case["messages"], case["text"]
    spans, texts = [], []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = tok.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True)
        upto = tok.apply_chat_template(messages[: i + 1], tokenize=False)
        if not (upto.startswith(before) and text.startswith(upto)):
            case["prefix_property"] = False
            return
        spans.append([len(before), len(upto)])
        texts.append(text[len(before):len(upto)])
        assert texts[-1] == expected_target_text(name, m["content"]), (name, case["conversation"], texts[-1])
    case["target_spans"] = spans
    case["target_texts"] = texts
    case["target_mask"] = [int(any(overlaps(o, s) for s in spans)) for o in offsets]
    if name == "features":
        # the template marks the same targets with {% generation %}: transformers' assistant mask
        enc = tok.apply_chat_template(messages, tokenize=True, return_assistant_tokens_mask=True)
        assert list(enc["assistant_masks"]) == case["target_mask"], case["conversation"]


def main():
    tok = PreTrainedTokenizerFast.from_pretrained(str(MODEL), local_files_only=True)
    checked = check_tokenizer(tok)
    cases = []
    for name in TEMPLATES:
        template = (HERE / f"{name}.jinja").read_bytes().decode("utf-8")
        tok.chat_template = template
        for conv_name, messages in CONVERSATIONS.items():
            prompts = [False] + ([True] if messages[-1]["role"] == "user" else [])
            for gen in prompts:
                text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
                enc = tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=gen)
                assert isinstance(enc, transformers.BatchEncoding), type(enc)
                ids = list(enc["input_ids"])
                # the tokenization apply_chat_template used: no special tokens added
                plain = tok(text, add_special_tokens=False, return_offsets_mapping=True)
                assert ids == plain["input_ids"], (name, conv_name)
                assert ids != tok(text)["input_ids"], "expected tokenize(text) to add BOS"
                case = {
                    "template": name,
                    "conversation": conv_name,
                    "messages": messages,
                    "add_generation_prompt": gen,
                    "text": text,
                    "ids": ids,
                }
                if not gen and messages[-1]["role"] == "assistant":
                    add_targets(tok, name, case, plain["offset_mapping"])
                cases.append(case)
        if name == "features":
            for conv_name, messages in REFUSED.items():
                try:
                    tok.apply_chat_template(messages, tokenize=False)
                    sys.exit(f"{name} did not refuse {conv_name}")
                except jinja2.exceptions.TemplateError as e:
                    cases.append({"template": name, "conversation": conv_name, "messages": messages,
                                  "add_generation_prompt": False, "error": str(e)})
    out = {
        "made_by": "engine/src/test/resources/chat-templates/make_goldens.py",
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "jinja2": jinja2.__version__,
        "tokenizer": "models/stories260K through PreTrainedTokenizerFast.from_pretrained "
                     f"(reproduces all {checked} ids of its golden/tokenize*.jsonl)",
        "bos_token": tok.bos_token,
        "eos_token": tok.eos_token,
        "bos_added_by_apply_chat_template": False,
        # tojson writes floats as Python's repr
        "float_repr": [[x, repr(x)] for x in FLOATS],
        "cases": cases,
    }
    same = {c["conversation"] + str(c["add_generation_prompt"]): c["text"] for c in cases if c["template"] == "qwen2"}
    for c in cases:
        if c["template"] == "chatml-indented":
            assert c["text"] == same[c["conversation"] + str(c["add_generation_prompt"])], c["conversation"]
    # one case a line
    head = json.dumps({k: v for k, v in out.items() if k not in ("cases", "float_repr")}, ensure_ascii=False, indent=1)
    head = head[:-2] + ',\n "float_repr": ' + json.dumps(out["float_repr"]) + "\n}"
    body = ",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in cases)
    path = HERE / "golden.json"
    path.write_text(head[:-2] + ',\n "cases": [\n' + body + "\n ]\n}\n", encoding="utf-8")
    json.loads(path.read_text(encoding="utf-8"))
    print(f"{len(cases)} cases -> {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
