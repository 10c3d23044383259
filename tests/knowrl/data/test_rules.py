from __future__ import annotations

import pytest

from knowrl.data.config import DataRules
from knowrl.data.normalize import normalize_text, question_key, split_titles, title_key
from knowrl.data.rules import RowRejected, check_think_answer_shape, clean_coldstart_row, clean_rl_row

RULES = DataRules()


def rl(**kw):
    row = {"question": "Who wrote Hamlet?", "answers": "William Shakespeare", "title": "Hamlet;William Shakespeare"}
    row.update(kw)
    return row


def test_clean_rl_row_normalises_and_splits_titles() -> None:
    row = clean_rl_row(
        rl(question="  Who  wrote\u200b Hamlet? ", title=" Hamlet ; William_Shakespeare;hamlet;"), RULES
    )
    assert row == {
        "question": "Who wrote Hamlet?",
        "answers": ["William Shakespeare"],
        "titles": ["Hamlet", "William_Shakespeare"],
        "topic": "Hamlet ; William_Shakespeare;hamlet;",  # the title string as given: the retrieval topic
    }


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"question": None}, "missing field 'question'"),
        ({"question": "   "}, "empty field 'question'"),
        ({"question": 42}, "must be a string"),
        ({"answers": ""}, "empty field 'answers'"),
        ({"answers": [1, 2]}, "string or a list of strings"),
        ({"title": ";;"}, "empty field 'title'"),
        ({"title": 3}, "must be a string or a list"),
        ({"question": "Hi"}, "shorter than"),
        ({"question": "x" * 3000}, "longer than"),
        ({"answers": "y" * 2000}, "answer longer than"),
    ],
)
def test_rl_rules_reject_with_reason(change: dict, reason: str) -> None:
    with pytest.raises(RowRejected, match=reason):
        clean_rl_row(rl(**change), RULES)


def test_answers_as_list_are_kept() -> None:
    assert clean_rl_row(rl(answers=["a", " ", "b"]), RULES)["answers"] == ["a", "b"]


def test_missing_answers_key() -> None:
    row = rl()
    del row["answers"]
    with pytest.raises(RowRejected, match="missing field 'answers'"):
        clean_rl_row(row, RULES)


def cs(value: str, human: str = "What is the capital of France?") -> dict:
    return {"id": "1", "conversations": [{"from": "human", "value": human}, {"from": "gpt", "value": value}]}


def test_coldstart_shape_rules() -> None:
    good = "<think>\nParis is the capital.\n</think>\n<answer>Paris</answer>"
    assert clean_coldstart_row(cs(good), RULES)["response"] == good
    between = "<think>\nParis.\n</think>\nSo Paris.\n<answer>Paris</answer>"
    assert clean_coldstart_row(cs(between), RULES)
    with pytest.raises(RowRejected, match="coldstart_shape=strict"):
        clean_coldstart_row(cs(between), DataRules(coldstart_shape="strict"))
    for bad, reason in [
        ("Paris", "is not <think>"),
        ("<think> </think><answer>Paris</answer>", "empty <think>"),
        ("<think>x y z</think><answer> </answer>", "empty <answer>"),
        ("<think>x y z</think><answer>Paris</answer> extra", "text after"),
        ("<think>x <answer>y</answer> z</think><answer>Paris</answer>", "nested"),
    ]:
        with pytest.raises(RowRejected, match=reason):
            check_think_answer_shape(bad, "lenient")
    check_think_answer_shape("anything", "off")


def test_coldstart_turns() -> None:
    with pytest.raises(RowRejected, match="missing field 'conversations'"):
        clean_coldstart_row({"id": 1}, RULES)
    with pytest.raises(RowRejected, match="one human and one gpt"):
        clean_coldstart_row({"conversations": [{"from": "human", "value": "q?"}]}, RULES)
    with pytest.raises(RowRejected, match="empty gpt turn"):
        clean_coldstart_row(cs("  "), RULES)


def test_normalisers() -> None:
    assert normalize_text("Ｃafé\u00a0 au   lait") == "Café au lait"
    assert question_key("Who is  THE Joker?") == question_key("who is the joker?")
    assert question_key("'The Joker'?", "alphanumeric") == question_key("The Joker", "alphanumeric")
    assert question_key("'The Joker'?") != question_key("The Joker")
    assert title_key(" Whose_Line  Is It ") == title_key("whose line is it")
    assert split_titles("A; b ;a;;C") == ["A", "b", "C"]
