"""The Galaxy Zoo DECaLS decision tree: the questions volunteers answer about a galaxy.

Ten questions, thirty-four answers (Walmsley et al. 2022). Each question is asked only when
an answer to an earlier one leads to it, so its votes come from a subset of the volunteers;
vote fractions are per question. The labeling pages, the synthetic galaxies' simulated votes
and the morphology model's outputs all use this one definition.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Question:
    key: str
    text: str
    answers: tuple[str, ...]
    # (question, answer) pairs that lead here; empty for the first question.
    reached_by: tuple[tuple[str, str], ...] = ()


DECALS_TREE = (
    Question("smooth-or-featured", "Is the galaxy simply smooth and rounded, with no sign of a disk?",
             ("smooth", "featured-or-disk", "artifact")),
    Question("disk-edge-on", "Could this be a disk viewed edge-on?", ("yes", "no"),
             (("smooth-or-featured", "featured-or-disk"),)),
    Question("has-spiral-arms", "Are there any spiral arms?", ("yes", "no"), (("disk-edge-on", "no"),)),
    Question("bar", "Is there a bar?", ("strong", "weak", "no"), (("disk-edge-on", "no"),)),
    Question("bulge-size", "How prominent is the central bulge?", ("dominant", "large", "moderate", "small", "none"),
             (("disk-edge-on", "no"),)),
    Question("how-rounded", "How rounded is it?", ("round", "in-between", "cigar-shaped"),
             (("smooth-or-featured", "smooth"),)),
    Question("edge-on-bulge", "Does the edge-on galaxy have a bulge?", ("boxy", "none", "rounded"),
             (("disk-edge-on", "yes"),)),
    Question("spiral-winding", "How tightly wound are the spiral arms?", ("tight", "medium", "loose"),
             (("has-spiral-arms", "yes"),)),
    Question("spiral-arm-count", "How many spiral arms are there?", ("1", "2", "3", "4", "more-than-4", "cant-tell"),
             (("has-spiral-arms", "yes"),)),
    Question("merging", "Is the galaxy merging or disturbed?",
             ("none", "minor-disturbance", "major-disturbance", "merger"),
             (("smooth-or-featured", "smooth"), ("smooth-or-featured", "featured-or-disk"))),
)  # fmt: skip
QUESTIONS = {question.key: question for question in DECALS_TREE}
# A version's config.json says ``"outputs": "vote_fractions"`` when its outputs are Dirichlet
# concentrations, one per answer (mlmodels.vote_fractions), rather than class logits.
OUTPUTS_KEY, VOTE_FRACTIONS = "outputs", "vote_fractions"
ANSWER_COUNT = sum(len(question.answers) for question in DECALS_TREE)


def answer_columns():
    """Every answer as ``question_answer``, in tree order: the 34 outputs of a vote-count model."""
    return [f"{question.key}_{answer}" for question in DECALS_TREE for answer in question.answers]


def is_reached(question, answers):
    """Whether a volunteer who gave ``answers`` (question key -> answer) is asked ``question``."""
    return not question.reached_by or any(answers.get(key) == value for key, value in question.reached_by)


def path_questions(answers):
    """The questions a volunteer is asked, in order, given their answer to each one reached."""
    return [question.key for question in DECALS_TREE if is_reached(question, answers)]


def vote_fractions(counts):
    """Per question, each answer's share of that question's votes (questions nobody reached are left out)."""
    fractions = {}
    for key, answers in counts.items():
        total = sum(answers.values())
        if total:
            fractions[key] = {answer: count / total for answer, count in answers.items()}
    return fractions


def split_column(column):
    """(question, answer) of a ``question_answer`` column (a vote model's output, an export's
    count). Keys never hold ``_`` (workflow keys are letters, digits and dashes), so the
    first one splits them."""
    question, _, answer = column.partition("_")
    return question, answer


def shares_of(shares, question):
    """{answer: share} of one question, from a vote model's {``question_answer``: share}."""
    return {answer: share for column, share in shares.items() for asked, answer in [split_column(column)]
            if asked == question}  # fmt: skip


def question_groups(columns):
    """``question_answer`` columns as (question, [indices of its answers]) in the order they first appear."""
    groups = {}
    for index, column in enumerate(columns):
        groups.setdefault(split_column(column)[0], []).append(index)
    return list(groups.items())


def vote_groups(config):
    """A version config's (question, [output indices]) when it predicts vote fractions, else None."""
    return question_groups(config["label_names"]) if config.get(OUTPUTS_KEY) == VOTE_FRACTIONS else None
