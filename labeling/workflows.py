"""Workflows: the decision trees volunteers answer, as JSON a project owner can write.

A tree is ``{"first": question key, "questions": {key: {"text", "help", "answers": [{"key",
"label", "next"}]}}}``; an answer's ``next`` names the question asked after it, or is null
where the classification ends (Panoptes keeps its workflows the same way). A tree is checked
whole before it is saved, and every refusal names the place in the JSON that is wrong, so an
owner can fix a tree of fifty questions without guessing. A volunteer's answers are checked
against the version they were shown: they must walk the tree from its first question to an
end, one answer per question reached.
"""

import re

from mlmodels.galaxy_zoo import QUESTIONS, is_reached

KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
MAX_QUESTIONS = 50
MAX_ANSWERS = 9  # one keyboard key (1-9) per answer on the classify page
MAX_TEXT = 500


class WorkflowInvalid(ValueError):
    """A tree that cannot be saved; the message names the place in the JSON that is wrong."""


class AnswersInvalid(ValueError):
    """Answers that do not walk the workflow version they claim; the message says where they leave it."""


def check_tree(tree):
    """Refuse a tree that is not well formed, has an answer leading nowhere, a question that
    no answer reaches, or a cycle (which would ask a volunteer forever); returns the tree."""
    if not isinstance(tree, dict) or not isinstance(tree.get("questions"), dict):
        raise WorkflowInvalid('the tree must be an object with "first" and "questions" (an object of questions)')
    questions = tree["questions"]
    if not questions:
        raise WorkflowInvalid('"questions" is empty: a workflow asks at least one question')
    if len(questions) > MAX_QUESTIONS:
        raise WorkflowInvalid(f'"questions" has {len(questions)} questions; the limit is {MAX_QUESTIONS}')
    if tree.get("first") not in questions:
        raise WorkflowInvalid(f'"first" is {tree.get("first")!r}, which is not one of the questions')
    for key, question in questions.items():
        _check_question(key, question, questions)
    _refuse_cycles(tree)
    unreached = [key for key in questions if key not in _reachable(tree)]
    if unreached:
        raise WorkflowInvalid(f"questions.{unreached[0]}: no answer leads to this question (nor is it first)")
    return tree


def _check_question(key, question, questions):
    where = f"questions.{key}"
    if not KEY.match(str(key)):
        raise WorkflowInvalid(f"{where}: a question key is 1-40 lowercase letters, digits and dashes")
    if not isinstance(question, dict):
        raise WorkflowInvalid(f"{where}: a question is an object with text and answers")
    _check_text(question.get("text"), f"{where}.text")
    if "help" in question:
        _check_text(question["help"], f"{where}.help", required=False)
    answers = question.get("answers")
    if not isinstance(answers, list) or not answers:
        raise WorkflowInvalid(f"{where}.answers: a question has a list of at least one answer")
    if len(answers) > MAX_ANSWERS:
        raise WorkflowInvalid(f"{where}.answers: {len(answers)} answers; at most {MAX_ANSWERS}, one keyboard key each")
    seen = set()
    for index, answer in enumerate(answers):
        place = f"{where}.answers[{index}]"
        if not isinstance(answer, dict) or not KEY.match(str(answer.get("key", ""))):
            raise WorkflowInvalid(f"{place}: an answer is an object whose key is 1-40 lowercase letters, digits "
                                  "and dashes")  # fmt: skip
        if answer["key"] in seen:
            raise WorkflowInvalid(f"{place}: the answer {answer['key']!r} is given twice")
        seen.add(answer["key"])
        _check_text(answer.get("label"), f"{place}.label")
        following = answer.get("next")
        if following is not None and following not in questions:
            raise WorkflowInvalid(f"{place}.next: {following!r} is not a question of this workflow (null ends it)")


def _check_text(text, where, required=True):
    if not isinstance(text, str) or (required and not text.strip()):
        raise WorkflowInvalid(f"{where}: text is required")
    if len(text) > MAX_TEXT:
        raise WorkflowInvalid(f"{where}: {len(text)} characters; the limit is {MAX_TEXT}")


def _refuse_cycles(tree):
    """Depth-first from the first question; a question met again on the current path is a cycle."""
    questions, done = tree["questions"], set()

    def visit(key, path):
        if key in path:
            loop = path[path.index(key) :] + [key]
            raise WorkflowInvalid(f"a cycle: {' → '.join(loop)}; every path must end")
        if key in done:
            return
        for answer in questions[key]["answers"]:
            if answer.get("next") is not None:
                visit(answer["next"], path + [key])
        done.add(key)

    for key in questions:  # questions no answer reaches may hold a cycle too
        visit(key, [])


def _reachable(tree):
    reached, waiting = set(), [tree["first"]]
    while waiting:
        key = waiting.pop()
        if key not in reached:
            reached.add(key)
            waiting.extend(a["next"] for a in tree["questions"][key]["answers"] if a.get("next") is not None)
    return reached


def check_answers(tree, answers):
    """``answers`` as ``[(question, answer), ...]`` in the order asked, refused unless they walk
    ``tree`` from its first question to an end; returns them as a list of pairs."""
    if not isinstance(answers, list) or not answers:
        raise AnswersInvalid("answers must be a list of [question, answer] pairs, in the order asked")
    questions, expected, walked = tree["questions"], tree["first"], []
    for index, pair in enumerate(answers):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise AnswersInvalid(f"answers[{index}] must be a [question, answer] pair of strings")
        question, answer = pair
        if expected is None:
            raise AnswersInvalid(f"answers[{index}]: the workflow ends after {walked[-1][0]} = {walked[-1][1]}; "
                                 f"{question!r} is not asked")  # fmt: skip
        if question != expected:
            raise AnswersInvalid(f"answers[{index}]: the question asked here is {expected!r}, not {question!r}")
        chosen = next((a for a in questions[question]["answers"] if a["key"] == answer), None)
        if chosen is None:
            keys = ", ".join(a["key"] for a in questions[question]["answers"])
            raise AnswersInvalid(f"answers[{index}]: {answer!r} is not an answer to {question!r} ({keys})")
        walked.append((question, answer))
        expected = chosen.get("next")
    if expected is not None:
        raise AnswersInvalid(f"the answers stop before {expected!r}, which still needs an answer")
    return walked


def question_order(tree):
    """The tree's question keys in the order they can come: breadth first from the first (a
    stored tree's questions come back in PostgreSQL's key order, not the author's)."""
    questions, order, waiting = tree["questions"], [], [tree["first"]]
    while waiting:
        key = waiting.pop(0)
        if key not in order:
            order.append(key)
            waiting.extend(a["next"] for a in questions[key]["answers"] if a.get("next"))
    return order


def field_guide(tree, examples=None):
    """The tree as a volunteer reads it: its questions in the order they can come, each answer
    with its key, the question it leads to and example galaxies (``examples``: question ->
    answer -> subject ids); and the most questions one galaxy can take (a tutorial says so)."""
    questions, order, examples = tree["questions"], question_order(tree), examples or {}
    guide = [{"key": key, "text": questions[key]["text"], "help": questions[key].get("help", ""),
              "answers": [{"number": number, "label": answer["label"],
                           "leads_to": questions[answer["next"]]["text"] if answer.get("next") else "",
                           "examples": examples.get(key, {}).get(answer["key"], [])}
                          for number, answer in enumerate(questions[key]["answers"], start=1)]}
             for key in order]  # fmt: skip
    return guide, _longest_walk(tree, tree["first"])


def _longest_walk(tree, key):
    return 1 + max((_longest_walk(tree, a["next"]) for a in tree["questions"][key]["answers"] if a.get("next")),
                   default=0)  # fmt: skip


# ---- the shipped tree ---------------------------------------------------------------------------

# The order Galaxy Zoo DECaLS asks its questions in. Which question follows an answer is not
# written here twice: it is the first later question that answer reaches (galaxy_zoo.is_reached).
DECALS_ORDER = ("smooth-or-featured", "how-rounded", "disk-edge-on", "edge-on-bulge", "has-spiral-arms",
                "spiral-winding", "spiral-arm-count", "bar", "bulge-size", "merging")  # fmt: skip


def decals_tree():
    """The Galaxy Zoo DECaLS tree (``mlmodels.galaxy_zoo``) as a workflow."""
    following = {}

    def walk(position, answers):
        question = QUESTIONS[DECALS_ORDER[position]]
        for answer in question.answers:
            reached = {**answers, question.key: answer}
            later = next((i for i in range(position + 1, len(DECALS_ORDER))
                          if is_reached(QUESTIONS[DECALS_ORDER[i]], reached)), None)  # fmt: skip
            step = None if later is None else DECALS_ORDER[later]
            # The tree form holds only if what follows an answer never depends on the path to it.
            assert following.setdefault((question.key, answer), step) == step, (question.key, answer)
            if later is not None:
                walk(later, reached)

    walk(0, {})
    return check_tree({
        "first": DECALS_ORDER[0],
        "questions": {key: {"text": QUESTIONS[key].text,
                            "answers": [{"key": answer, "label": _label(answer), "next": following[(key, answer)]}
                                        for answer in QUESTIONS[key].answers]}
                      for key in DECALS_ORDER},
    })  # fmt: skip


def _label(answer_key):
    return answer_key.replace("-", " ").capitalize()
