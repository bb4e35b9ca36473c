"""Workflow trees: the shipped DECaLS tree, an owner's own tree, and volunteers' answers checked against them."""

import copy
import itertools

import pytest

from labeling.workflows import AnswersInvalid, WorkflowInvalid, check_answers, check_tree, decals_tree, field_guide
from mlmodels.galaxy_zoo import DECALS_TREE, path_questions

SIMPLE = {
    "first": "shape",
    "questions": {
        "shape": {"text": "What shape is it?", "answers": [
            {"key": "round", "label": "Round", "next": None},
            {"key": "disk", "label": "A disk", "next": "arms"},
        ]},
        "arms": {"text": "Does it have spiral arms?", "answers": [
            {"key": "yes", "label": "Yes", "next": None},
            {"key": "no", "label": "No", "next": None},
        ]},
    },
}  # fmt: skip


def walks(tree):
    """Every complete walk through ``tree``, as lists of (question, answer)."""

    def from_question(key):
        for answer in tree["questions"][key]["answers"]:
            if answer["next"] is None:
                yield [(key, answer["key"])]
            else:
                for rest in from_question(answer["next"]):
                    yield [(key, answer["key"]), *rest]

    return list(from_question(tree["first"]))


def test_the_decals_tree_asks_exactly_the_questions_galaxy_zoo_reaches_on_every_path():
    tree = decals_tree()
    assert len(tree["questions"]) == 10
    assert sum(len(q["answers"]) for q in tree["questions"].values()) == 34
    every = walks(tree)
    for walk in every:
        assert {q for q, _ in walk} == set(path_questions(dict(walk))), walk
    # every answer of every question is on some walk
    assert {pair for walk in every for pair in walk} == {(q.key, a) for q in DECALS_TREE for a in q.answers}
    artifact = next(walk for walk in every if walk[0] == ("smooth-or-featured", "artifact"))
    assert artifact == [("smooth-or-featured", "artifact")], "an artifact ends the classification at once"


def test_a_valid_owner_tree_is_accepted_and_its_walks_checked():
    assert check_tree(copy.deepcopy(SIMPLE))
    assert check_answers(SIMPLE, [["shape", "disk"], ["arms", "yes"]]) == [("shape", "disk"), ("arms", "yes")]


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t["questions"]["arms"]["answers"][0].update(next="shape"), r"a cycle: shape → arms → shape"),
    (lambda t: t["questions"]["shape"]["answers"][1].update(next="armz"),
     r"questions\.shape\.answers\[1\]\.next: 'armz' is not a question"),
    (lambda t: t["questions"]["shape"]["answers"][1].update(next=None), r"questions\.arms: no answer leads to this"),
    (lambda t: t.update(first="nope"), r'"first" is \'nope\''),
    (lambda t: t["questions"]["arms"]["answers"].append({"key": "yes", "label": "Y", "next": None}),
     r"questions\.arms\.answers\[2\]: the answer 'yes' is given twice"),
    (lambda t: t["questions"]["arms"].update(text=" "), r"questions\.arms\.text: text is required"),
    (lambda t: t["questions"]["arms"].update(answers=[{"key": f"a{i}", "label": "x", "next": None} for i in range(10)]),
     r"questions\.arms\.answers: 10 answers; at most 9"),
        (lambda t: (t["questions"].update({"Bad Key": t["questions"].pop("arms")}),
                    t["questions"]["shape"]["answers"][1].update(next="Bad Key")),
         r"questions\.Bad Key: a question key is 1-40 lowercase"),
])  # fmt: skip
def test_a_broken_tree_is_refused_naming_where(change, message):
    tree = copy.deepcopy(SIMPLE)
    change(tree)
    with pytest.raises(WorkflowInvalid, match=message):
        check_tree(tree)


def test_a_cycle_among_questions_no_answer_reaches_is_still_refused():
    tree = copy.deepcopy(SIMPLE)
    tree["questions"]["loop"] = {"text": "?", "answers": [{"key": "again", "label": "Again", "next": "loop"}]}
    with pytest.raises(WorkflowInvalid, match="a cycle: loop → loop"):
        check_tree(tree)


@pytest.mark.parametrize(("answers", "message"), [
    ([["arms", "yes"]], r"answers\[0\]: the question asked here is 'shape', not 'arms'"),
    ([["shape", "square"]], r"answers\[0\]: 'square' is not an answer to 'shape' \(round, disk\)"),
    ([["shape", "disk"]], r"the answers stop before 'arms', which still needs an answer"),
    ([["shape", "round"], ["arms", "yes"]], r"answers\[1\]: the workflow ends after shape = round"),
    ([], r"answers must be a list"),
    ("shape=round", r"answers must be a list"),
    ([["shape"]], r"answers\[0\] must be a \[question, answer\] pair"),
])  # fmt: skip
def test_answers_off_the_tree_are_refused_naming_where(answers, message):
    with pytest.raises(AnswersInvalid, match=message):
        check_answers(SIMPLE, answers)


def test_every_decals_walk_is_accepted_and_no_shuffled_one_is():
    tree = decals_tree()
    for walk in walks(tree):
        assert check_answers(tree, [list(pair) for pair in walk])
        for shuffled in itertools.islice(itertools.permutations(walk), 1, 3):
            with pytest.raises(AnswersInvalid):
                check_answers(tree, [list(pair) for pair in shuffled])


def test_the_field_guide_lists_every_question_in_the_order_they_can_come():
    guide, most = field_guide(decals_tree())
    assert [question["key"] for question in guide][:3] == ["smooth-or-featured", "how-rounded", "disk-edge-on"]
    assert len(guide) == 10 and most == 8  # featured, not edge-on, spiral: eight questions
    first = guide[0]["answers"]
    assert [(a["number"], a["label"], a["leads_to"]) for a in first] == [
        (1, "Smooth", "How rounded is it?"), (2, "Featured or disk", "Could this be a disk viewed edge-on?"),
        (3, "Artifact", "")]  # fmt: skip
