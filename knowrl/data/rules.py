"""Validation rules for RL rows and cold-start rows. Each returns the clean row or the reason it failed."""

from __future__ import annotations

import re
from typing import Any

from knowrl.data.config import DataRules
from knowrl.data.normalize import normalize_text, split_titles


class RowRejected(ValueError):
    """A row fails a rule; the message is the quarantine reason."""


_THINK_ANSWER = re.compile(
    r"^<think>(?P<think>.*?)</think>(?P<between>.*?)<answer>(?P<answer>.*?)</answer>(?P<tail>.*)$", re.S
)
_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def _require_str(record: dict[str, Any], field: str) -> str:
    if field not in record or record[field] is None:
        raise RowRejected(f"missing field '{field}'")
    value = record[field]
    if not isinstance(value, str):
        raise RowRejected(f"field '{field}' must be a string, got {type(value).__name__}")
    if not value.strip():
        raise RowRejected(f"empty field '{field}'")
    return value


def _answers(record: dict[str, Any]) -> list[str]:
    if "answers" not in record or record["answers"] is None:
        raise RowRejected("missing field 'answers'")
    value = record["answers"]
    if isinstance(value, str):
        values = [value]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        values = value
    else:
        raise RowRejected(f"field 'answers' must be a string or a list of strings, got {type(value).__name__}")
    cleaned = [v for v in values if v.strip()]
    if not cleaned:
        raise RowRejected("empty field 'answers'")
    return cleaned


def clean_rl_row(record: dict[str, Any], rules: DataRules) -> dict[str, Any]:
    norm = lambda s: normalize_text(s, rules.normalize_unicode, rules.collapse_whitespace)  # noqa: E731
    question = norm(_require_str(record, "question"))
    answers = [norm(a) for a in _answers(record)]
    title_value = record.get("title", record.get("titles"))
    if title_value is None:
        raise RowRejected("missing field 'title'")
    if not isinstance(title_value, str | list):
        raise RowRejected(f"field 'title' must be a string or a list, got {type(title_value).__name__}")
    titles = split_titles(title_value if isinstance(title_value, str) else [str(t) for t in title_value])
    titles = [norm(t) for t in titles]
    if not titles:
        raise RowRejected("empty field 'title'")
    if len(question) < rules.min_question_chars:
        raise RowRejected(f"question shorter than {rules.min_question_chars} characters")
    if len(question) > rules.max_question_chars:
        raise RowRejected(f"question longer than {rules.max_question_chars} characters")
    if any(len(a) > rules.max_answer_chars for a in answers):
        raise RowRejected(f"answer longer than {rules.max_answer_chars} characters")
    if len(titles) > rules.max_titles:
        raise RowRejected(f"{len(titles)} titles, more than max_titles={rules.max_titles}")
    # The title string as given (one title, or several joined by ";"): the retrieval topic of the method.
    topic = norm(title_value if isinstance(title_value, str) else ";".join(str(t) for t in title_value))
    return {"question": question, "answers": answers, "titles": titles, "topic": topic}


def _conversation_turns(record: dict[str, Any]) -> tuple[str, str]:
    turns = record.get("conversations")
    if turns is None:
        raise RowRejected("missing field 'conversations'")
    if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
        raise RowRejected("field 'conversations' must be a list of {from, value} objects")
    human = [t.get("value") for t in turns if t.get("from") in ("human", "user")]
    gpt = [t.get("value") for t in turns if t.get("from") in ("gpt", "assistant")]
    if len(human) != 1 or len(gpt) != 1:
        raise RowRejected(f"expected one human and one gpt turn, got {len(human)} and {len(gpt)}")
    if not isinstance(human[0], str) or not isinstance(gpt[0], str):
        raise RowRejected("turn values must be strings")
    if not human[0].strip():
        raise RowRejected("empty human turn")
    if not gpt[0].strip():
        raise RowRejected("empty gpt turn")
    return human[0], gpt[0]


def check_think_answer_shape(response: str, mode: str) -> None:
    if mode == "off":
        return
    match = _THINK_ANSWER.match(response.strip())
    if not match:
        raise RowRejected("response is not <think>...</think> then <answer>...</answer>")
    if not match["think"].strip():
        raise RowRejected("empty <think> block")
    if not match["answer"].strip():
        raise RowRejected("empty <answer> block")
    if match["tail"].strip():
        raise RowRejected("text after </answer>")
    if any(tag in match["think"] or tag in match["answer"] for tag in _TAGS):
        raise RowRejected("nested <think>/<answer> tag")
    if mode == "strict" and match["between"].strip():
        raise RowRejected("text between </think> and <answer> (coldstart_shape=strict)")


def clean_coldstart_row(record: dict[str, Any], rules: DataRules) -> dict[str, Any]:
    prompt, response = _conversation_turns(record)
    # The response keeps its newlines: they are part of the format the model learns.
    prompt = normalize_text(prompt, rules.normalize_unicode, rules.collapse_whitespace)
    response = normalize_text(response, rules.normalize_unicode, collapse_whitespace=False)
    if len(prompt) < rules.min_question_chars:
        raise RowRejected(f"prompt shorter than {rules.min_question_chars} characters")
    if len(prompt) > rules.max_question_chars:
        raise RowRejected(f"prompt longer than {rules.max_question_chars} characters")
    if len(response) < rules.min_response_chars:
        raise RowRejected(f"response shorter than {rules.min_response_chars} characters")
    if len(response) > rules.max_response_chars:
        raise RowRejected(f"response longer than {rules.max_response_chars} characters")
    check_think_answer_shape(response, rules.coldstart_shape)
    return {"prompt": prompt, "response": response}
