"""Citizen-science operations: projects and their workflow versions, subject sets, the next
galaxy for a volunteer, and counting their classifications once each."""

import functools
import json
import math
import random
import secrets

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Exists, FloatField, OuterRef, Q, Value
from django.db.models.functions import Cast, Coalesce, Greatest
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from mlmodels.galaxy_zoo import shares_of, split_column
from mlmodels.models import MLModel, Prediction
from mlmodels.services import production_prediction, production_versions
from mlmodels.signals import predictions_stored
from observations.models import TargetImage
from observations.services import cone_search
from portal import tenancy
from portal.broadcast import send_latest
from portal.caching import kept_for
from portal.models import Tenant
from portal.permissions import may, role_of
from portal.sql import server_cursor

from . import counters
from .aggregation import QuestionVotes, dawid_skene, vote_counts
from .models import Classification, Project, Subject, VolunteerSkill, Workflow
from .workflows import AnswersInvalid, check_answers, check_tree, decals_tree

PROJECT_READ_EVERY_S = 5
GUIDE_EXAMPLES, GUIDE_SURENESS = 3, 0.8
STORE_BATCH = 5000
QUEUE_SPREAD = 250  # the next galaxy is drawn from this many at the head of the queue: fifty volunteers
# drawing from sixty galaxies kept meeting on the same rows and waiting for each other's locks
UNJUDGED_DOUBT = 0.5  # a galaxy no model has judged yet ranks as half-sure


class ClassificationRefused(ValueError):
    """Nothing was counted; the message says why (answers off the tree, a galaxy not in the project…)."""


class SubjectRetired(ClassificationRefused):
    """The galaxy was retired after the volunteer was shown it: a conflict, not a mistake of theirs."""


def project_open_to(user, tenant_slug, project_slug):
    """The project at ``/projects/<tenant_slug>/<project_slug>/`` if ``user`` (None when not
    signed in) may classify in it, else None: the pages and the websocket ask alike."""
    project = _project_at(tenant_slug, project_slug.lower())
    if project is None:
        return None
    role = role_of(user, project.tenant) if user is not None else None
    return project if may_classify(project, role) else None


@kept_for(PROJECT_READ_EVERY_S)
def _project_at(tenant_slug, project_slug):
    """Every request of every volunteer names its project: it is read once every
    ``PROJECT_READ_EVERY_S`` per process (and again in this one when it is saved), so an owner's
    change of visibility or retirement rules reaches every web process within seconds."""
    tenant = Tenant.objects.filter(slug=tenant_slug).first()
    if tenant is None:
        return None
    with tenancy.tenant_context(tenant):
        return Project.objects.filter(tenant=tenant, slug__iexact=project_slug).select_related("tenant").first()


@receiver(post_save, sender=Project)
def _forget_project(sender, instance, **kwargs):
    _project_at.forget()


def may_classify(project, role):
    """Whether a visitor with ``role`` in the project's tenant (None: not a member, or not
    signed in) may classify in it: anyone in a public project, members in a tenant-wide one,
    and only those who run projects in a private one (while it is being prepared)."""
    if project.visibility == Project.Visibility.PUBLIC:
        return True
    if project.visibility == Project.Visibility.TENANT:
        return role is not None
    return role is not None and may(role, "projects.manage")


def create_project(tenant, owner, *, name, slug, tree=None, note="", **options):
    """A project with its first workflow version: ``tree`` (checked), or the Galaxy Zoo DECaLS tree."""
    with transaction.atomic():
        project = Project.objects.create(tenant=tenant, owner=owner, name=name, slug=slug, **options)
        publish_workflow(project, decals_tree() if tree is None else tree, owner,
                         note=note or ("Galaxy Zoo DECaLS" if tree is None else ""))  # fmt: skip
        transaction.on_commit(functools.partial(counters.started, project))
    return project


def publish_workflow(project, tree, user, note=""):
    """A new version of the project's tree (after the highest one); the votes already given
    stay with the version they were given under."""
    check_tree(tree)
    with transaction.atomic():
        Project.objects.select_for_update().get(pk=project.pk)  # one new version at a time
        version = (project.workflows.order_by("-version").values_list("version", flat=True).first() or 0) + 1
        return Workflow.objects.create(tenant_id=project.tenant_id, project=project, version=version, tree=tree,
                                       created_by=user, note=note[:200])  # fmt: skip


def current_workflow(project):
    return project.workflows.order_by("-version").first()


def add_subjects(project, images, *, gold=None):
    """Put target images into the project's subject set (an image already there is left as it
    is); ``gold`` maps an image's id to its known answers, making it a gold-standard galaxy.
    Returns how many were added."""
    images = list(images)
    gold = gold or {}
    tree = current_workflow(project).tree
    for answers in gold.values():
        check_answers(tree, [list(pair) for pair in answers])
    doubt = model_doubt(project.tenant, [image.pk for image in images])
    subjects = [Subject(tenant_id=project.tenant_id, project=project, image=image, uncertainty=doubt.get(image.pk),
                        gold_answers=[list(pair) for pair in gold[image.pk]] if image.pk in gold else None)
                for image in images]  # fmt: skip
    for subject in subjects:
        subject.priority = priority(project, subject)
    before = project.subjects.count()
    Subject.objects.bulk_create(subjects, ignore_conflicts=True, batch_size=2000)
    added = project.subjects.count() - before
    transaction.on_commit(functools.partial(counters.count_subjects, project, added))
    return added


def images_to_classify(tenant, *, targets=None, cone=None, tag=None, least_sure=None):
    """The tenant's target images an owner picks for a subject set, by any of: ``targets`` (a
    list), ``cone`` ((SkyCoord, radius) around a position), ``tag`` (targets carrying it), and
    then ``least_sure`` (the N the production models doubt most: active learning's start).
    The criteria given narrow each other; none given means every image."""
    images = TargetImage.objects.filter(tenant=tenant)
    if targets is not None:
        images = images.filter(target__in=list(targets))
    if cone is not None:
        coordinate, radius = cone
        images = images.filter(target__in=cone_search(tenant, coordinate, radius, include_public=False, limit=None))
    if tag:
        images = images.filter(target__tags__contains=[tag])
    images = list(images.order_by("pk"))
    if least_sure is not None:
        doubt = model_doubt(tenant, [image.pk for image in images])
        images = sorted((image for image in images if image.pk in doubt), key=lambda image: -doubt[image.pk])
        images = images[:least_sure]
    return images


def model_doubt(tenant, image_ids):
    """{image id: 0..1} how unsure the production models are about each image: per task, the
    entropy of their class probabilities (as a share of the most it can be; for a vote model,
    of its fractions for the first question, which every volunteer answers), raised where
    that task's versions disagree on the label; the most unsure task counts. Images no model
    has judged are left out."""
    versions = {
        version.pk: version.model.task for task in DOUBTED_TASKS for version in production_versions(tenant, task)
    }
    judged = {}
    for image_id, version_id, probabilities, label in Prediction.objects.filter(
        version_id__in=versions, image_id__in=image_ids, refusal=""
    ).values_list("image_id", "version_id", "probabilities", "label"):
        if versions[version_id] == MLModel.Task.VOTE_FRACTIONS:
            probabilities = shares_of(probabilities, split_column(label)[0])
        judged.setdefault(image_id, {}).setdefault(versions[version_id], []).append((probabilities, label))
    doubt = {}
    for image_id, tasks in judged.items():
        doubt[image_id] = max(_doubt(answers) for answers in tasks.values())
    return doubt


DOUBTED_TASKS = (MLModel.Task.MORPHOLOGY, MLModel.Task.VOTE_FRACTIONS)


def _doubt(answers):
    entropy = sum(_normalised_entropy(probabilities) for probabilities, _ in answers) / len(answers)
    labels = [label for _, label in answers]
    disagreement = 1 - max(labels.count(label) for label in labels) / len(labels)
    return max(entropy, disagreement)


@receiver(predictions_stored, dispatch_uid="labeling.refresh_doubt")
def _refresh_doubt(sender, *, version, field, ids, **kwargs):
    tenant = tenancy.current_tenant()  # a task runs for one tenant: row-level security shows it only its galaxies
    if field == "image" and tenant is not None and version.model.task in DOUBTED_TASKS:
        refresh_doubt(tenant, ids)


def refresh_doubt(tenant, image_ids):
    """The model's doubt, and so the queue place, of the galaxies of ``image_ids`` still taking
    votes in the tenant's projects, after a version in production judged them."""
    subjects = list(Subject.objects.filter(tenant=tenant, image_id__in=image_ids, retired_at__isnull=True)
                    .select_related("project"))  # fmt: skip
    if not subjects:
        return
    doubt = model_doubt(tenant, image_ids)
    for subject in subjects:
        subject.uncertainty = doubt.get(subject.image_id)
        subject.priority = priority(subject.project, subject)
    Subject.objects.bulk_update(subjects, ["uncertainty", "priority"], batch_size=2000)


def _normalised_entropy(probabilities):
    values = [p for p in probabilities.values() if p > 0]
    if len(probabilities) < 2:
        return 0.0
    return -sum(p * math.log(p) for p in values) / math.log(len(probabilities))


def priority(project, subject):
    """Higher is served sooner: the share of votes still needed, mixed with the model's doubt
    (``_priority_in_sql`` is the same, for every galaxy of a project at once)."""
    needed = max(0.0, 1 - subject.classification_count / project.retirement_limit)
    doubt = UNJUDGED_DOUBT if subject.uncertainty is None else subject.uncertainty
    return (1 - project.uncertainty_weight) * needed + project.uncertainty_weight * doubt


def _priority_in_sql(project):
    needed = Greatest(Value(0.0), Value(1.0) - Cast("classification_count", FloatField()) / project.retirement_limit)
    doubt = Coalesce("uncertainty", Value(UNJUDGED_DOUBT))
    return (1 - project.uncertainty_weight) * needed + project.uncertainty_weight * doubt


def apply_rules(project):
    """After an owner changed the retirement limit or the weight of the model's doubt: galaxies
    over a lowered limit retire, those retired by a limit now raised take votes again, and every
    galaxy's place in the queue is worked out anew (retirement by consensus is checked at each
    vote, from the tally it needs)."""
    subjects = Subject.objects.filter(project=project, gold_answers__isnull=True)
    limit = project.retirement_limit
    with transaction.atomic():
        subjects.filter(retired_at__isnull=True, classification_count__gte=limit).update(
            retired_at=timezone.now(), retirement=Subject.Retirement.LIMIT
        )
        subjects.filter(retirement=Subject.Retirement.LIMIT, classification_count__lt=limit).update(
            retired_at=None, retirement=""
        )
        Subject.objects.filter(project=project).update(priority=_priority_in_sql(project))
        transaction.on_commit(functools.partial(counters.forget, project))


def voter_for(user, session):
    """The name a volunteer's classifications go under: their account, or a random token kept
    in their session (made on first use), so an anonymous volunteer also counts once a galaxy."""
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    if "labeling_voter" not in session:
        session["labeling_voter"] = secrets.token_urlsafe(24)
    return f"anon:{session['labeling_voter']}"


def next_subject_ids(project, voter, *, count=1, exclude=(), chance=random.random):
    """Ids of up to ``count`` galaxies for ``voter`` to classify next: never one they classified,
    never a retired one, a gold-standard one at the project's rate, otherwise drawn at random
    from the head of the queue (so volunteers arriving together do not all get the same galaxy).

    Written as SQL, and drawn in the database: every submit asks, and building the query
    through the ORM, then reading the head's 250 ids to keep one or two, was most of what a
    submit cost the web process."""
    golds = sum(chance() < project.gold_rate for _ in range(count)) if project.gold_rate else 0
    chosen = _unseen(project, voter, exclude, "gold_answers IS NOT NULL", golds, "random()") if golds else []
    head = _unseen(project, voter, exclude, "retired_at IS NULL AND gold_answers IS NULL", QUEUE_SPREAD + count,
                   "priority DESC, id")  # fmt: skip
    return chosen + head[: count - len(chosen)]


def _unseen(project, voter, exclude, condition, limit, order):
    """Ids of the first ``limit`` (by ``order``) of the project's galaxies meeting ``condition``
    that ``voter`` has not classified and the page does not hold (``exclude``), shuffled."""
    with server_cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM (SELECT id FROM {Subject._meta.db_table} AS subject WHERE project_id = %s AND {condition} "
            "AND NOT (id = ANY(%s::bigint[])) AND NOT EXISTS (SELECT FROM "
            f"{Classification._meta.db_table} WHERE subject_id = subject.id AND voter = %s) ORDER BY {order} LIMIT %s) "
            "AS head ORDER BY random()",
            [project.pk, list(exclude), voter, limit], prepare=True,
        )  # fmt: skip
        return [subject_id for (subject_id,) in cursor.fetchall()]


def classify(project, subject_id, *, voter, user, workflow_version, answers):
    """Count ``voter``'s answers about a galaxy once: returns (classification, created); a
    second submit of the same galaxy by the same volunteer returns the first, uncounted.
    ClassificationRefused for a galaxy not in the project, a retired one, an unknown workflow
    version, or answers that do not walk that version's tree.

    Two prepared statements in one transaction (every volunteer's every galaxy comes through
    here, and compiling the ORM's three queries cost the web process more than the database
    spent on them, which planned them afresh each time): the galaxy's row is locked, so two
    submits of the same galaxy count in turn, and read together with this volunteer's earlier
    vote; then the vote is stored and the galaxy's counters, retirement and place in the queue
    updated at once."""
    workflow = _workflow(project, workflow_version) if isinstance(workflow_version, int) else None
    if workflow is None:
        raise ClassificationRefused(f"workflow version {workflow_version!r} is not a version of {project.name}")
    try:
        walked = check_answers(workflow.tree, answers)
    except AnswersInvalid as error:
        raise ClassificationRefused(f"{error} (workflow version {workflow.version})") from None
    if not isinstance(subject_id, int) or isinstance(subject_id, bool):
        raise ClassificationRefused(f"galaxy {subject_id!r} is not a subject of {project.name}")
    volunteer = user if user is not None and user.is_authenticated else None
    try:
        with transaction.atomic(), server_cursor() as cursor:
            subject, earlier = _locked_subject(cursor, project, subject_id, voter)
            if subject is None:
                raise ClassificationRefused(f"galaxy {subject_id!r} is not a subject of {project.name}")
            if earlier is not None:
                return Classification.objects.get(pk=earlier), False
            if subject.retired_at is not None:
                raise SubjectRetired("this galaxy was retired before your answers arrived (it has all the votes "
                                     "it needs); thank you — on to the next one")  # fmt: skip
            classification = Classification(
                tenant_id=project.tenant_id, project=project, subject=subject, workflow=workflow, volunteer=volunteer,
                voter=voter, answers=[list(pair) for pair in walked], created_at=timezone.now(),
            )  # fmt: skip
            _count(project, subject, workflow, walked)
            cursor.execute(
                f"WITH vote AS (INSERT INTO {Classification._meta.db_table} (tenant_id, project_id, subject_id, "
                "workflow_id, volunteer_id, voter, answers, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s) "
                f"RETURNING id) UPDATE {Subject._meta.db_table} SET classification_count = %s, "
                "first_answers = %s::jsonb, retired_at = %s, retirement = %s, priority = %s WHERE id = %s "
                "RETURNING (SELECT id FROM vote)",
                [project.tenant_id, project.pk, subject.pk, workflow.pk, volunteer and volunteer.pk, voter,
                 json.dumps(classification.answers), classification.created_at, subject.classification_count,
                 json.dumps(subject.first_answers), subject.retired_at, subject.retirement, subject.priority,
                 subject.pk], prepare=True,
            )  # fmt: skip
            (classification.pk,) = cursor.fetchone()
            transaction.on_commit(functools.partial(counters.count_classification, project, voter,
                                                    retired=subject.retired_at is not None))  # fmt: skip
    except IntegrityError:  # the constraint is the last line, should a submit get past the lock
        return Classification.objects.get(subject_id=subject_id, voter=voter), False
    return classification, True


def _locked_subject(cursor, project, subject_id, voter):
    """(the galaxy's row, locked until the commit, or None; the id of ``voter``'s earlier
    classification of it, or None). Taken together: one round trip fewer while other volunteers
    may be waiting on the lock."""
    cursor.execute(
        f"SELECT id, image_id, classification_count, first_answers::text, uncertainty, gold_answers::text, retired_at, "
        f"(SELECT id FROM {Classification._meta.db_table} WHERE subject_id = subject.id AND voter = %s) "
        f"FROM {Subject._meta.db_table} AS subject WHERE id = %s AND project_id = %s FOR UPDATE",
        [voter, subject_id, project.pk], prepare=True,
    )  # fmt: skip
    row = cursor.fetchone()
    if row is None:
        return None, None
    pk, image_id, count, first_answers, uncertainty, gold_answers, retired_at, earlier = row
    subject = Subject(pk=pk, tenant_id=project.tenant_id, project=project, image_id=image_id,
                      classification_count=count, first_answers=json.loads(first_answers), uncertainty=uncertainty,
                      gold_answers=gold_answers and json.loads(gold_answers), retired_at=retired_at)  # fmt: skip
    return subject, earlier


_workflows = {}  # (project id, version) -> Workflow: a published version never changes


def _workflow(project, version):
    workflow = _workflows.get((project.pk, version))
    if workflow is None:
        workflow = project.workflows.filter(version=version).first()
        if workflow is not None:
            _workflows[project.pk, version] = workflow
    return workflow


def _count(project, subject, workflow, walked):
    """The galaxy's counters, retirement and priority with this vote (the caller stores them)."""
    subject.classification_count += 1
    question, answer = walked[0]
    tally = subject.first_answers.setdefault(question, {})
    tally[answer] = tally.get(answer, 0) + 1
    reason = _retirement(project, subject, workflow)
    if reason:
        subject.retired_at, subject.retirement = timezone.now(), reason
    subject.priority = priority(project, subject)


def _retirement(project, subject, workflow):
    """Why the galaxy retires now, or "": enough votes, or (after ``consensus_min_votes``) one
    answer to the first question holding ``consensus_fraction`` of them. Gold galaxies stay."""
    if subject.gold_answers is not None:
        return ""
    if subject.classification_count >= project.retirement_limit:
        return Subject.Retirement.LIMIT
    tally = subject.first_answers.get(workflow.tree["first"], {})
    votes = sum(tally.values())
    if project.consensus_fraction and votes >= project.consensus_min_votes:
        if max(tally.values()) / votes >= project.consensus_fraction:
            return Subject.Retirement.CONSENSUS
    return ""


def progress_group(project):
    return f"labeling-project-{project.pk}"


def announce_progress(project, counts=None):
    """Send the project's counters (``counts``, when the caller has just read them) to every page
    watching it: the latest, a few times a second (``portal.broadcast``)."""
    send_latest(progress_group(project), {"type": "project.progress", "counts": counts or counters.progress(project)})


def history(project, voter, *, recent=10):
    """A volunteer's own count in the project and their latest classifications."""
    latest = (Classification.objects.filter(project=project, voter=voter).order_by("-created_at")
              .values("subject_id", "answers", "created_at")[:recent])  # fmt: skip
    return {"count": counters.classified_by(project, voter), "recent": list(latest)}


def what_others_said(classification):
    """What a volunteer may see after classifying a galaxy: the shares of all volunteers'
    answers to the first question of the tree they answered, and what the production
    morphology model said."""
    subject, tree = classification.subject, classification.workflow.tree
    tally = subject.first_answers.get(tree["first"], {})
    total = sum(tally.values())
    return {
        "question": tree["questions"][tree["first"]]["text"],
        "votes": total,
        "shares": {answer: count / total for answer, count in sorted(tally.items(), key=lambda kv: -kv[1])},
        "model": _model_said(classification.project.tenant, tree["first"], subject.image_id),
    }


def _model_said(tenant, question, image_id):
    """The production model's answer for a volunteer to compare with: a vote model's predicted
    shares for the same question when one serves and was trained on it, else the morphology
    model's class (and confidence); None when neither has judged the galaxy."""
    votes = production_prediction(tenant, MLModel.Task.VOTE_FRACTIONS, image_id)
    if votes is not None:
        shares = shares_of(votes["probabilities"], question)
        if shares:
            label = max(shares, key=shares.get)
            return {"name": votes["model"], "label": label, "confidence": shares[label],
                    "shares": dict(sorted(shares.items(), key=lambda kv: -kv[1]))}  # fmt: skip
    prediction = production_prediction(tenant, MLModel.Task.MORPHOLOGY, image_id)
    if prediction is None:
        return None
    return {"name": prediction["model"], "label": prediction["label"], "confidence": prediction["confidence"]}


def aggregate(project):
    """Vote counts and skill-weighted consensus for every galaxy of the project, per question of
    its current workflow, and each volunteer's skill; votes given under earlier versions count
    for the questions and answers that are still asked. Returns {question: Consensus}."""
    started = timezone.now()  # a vote committed after this waits for the next aggregation
    tree = current_workflow(project).tree
    subjects = list(project.subjects.values_list("pk", "gold_answers"))
    subject_index = {pk: index for index, (pk, _) in enumerate(subjects)}
    answer_index = {key: {a["key"]: i for i, a in enumerate(q["answers"])} for key, q in tree["questions"].items()}
    voter_index, columns = {}, {key: ([], [], []) for key in answer_index}
    rows = Classification.objects.filter(project=project).values_list("subject_id", "voter", "answers")
    for subject_id, voter, answers in rows.iterator(chunk_size=20_000):
        row, person = subject_index[subject_id], voter_index.setdefault(voter, len(voter_index))
        for question, answer in answers:
            given = answer_index.get(question, {}).get(answer)
            if given is not None:
                for column, value in zip(columns[question], (row, person, given)):
                    column.append(value)
    truths = {pk: dict(map(tuple, answers)) for pk, answers in subjects if answers}
    results, counts = {}, {}
    skill, answered, on_gold = (np.zeros(len(voter_index)) for _ in range(3))
    for question, (rows_, people, given) in columns.items():
        votes = QuestionVotes(np.asarray(rows_, dtype=np.int64), np.asarray(people, dtype=np.int64),
                              np.asarray(given, dtype=np.int64), len(answer_index[question]), len(subjects),
                              len(voter_index))  # fmt: skip
        gold = {subject_index[pk]: answer_index[question][truth[question]]
                for pk, truth in truths.items() if question in truth}  # fmt: skip
        results[question], counts[question] = dawid_skene(votes, gold), vote_counts(votes)
        per_voter = np.bincount(votes.voters, minlength=len(voter_index))
        skill += results[question].skill() * per_voter
        answered += per_voter
        on_gold += np.bincount(votes.voters, weights=np.isin(votes.subjects, list(gold)), minlength=len(voter_index))
    with transaction.atomic():
        _store_consensus(project, subjects, answer_index, results, counts)
        VolunteerSkill.objects.filter(project=project).delete()
        VolunteerSkill.objects.bulk_create(
            [VolunteerSkill(tenant_id=project.tenant_id, project=project, voter=voter,
                            skill=float(skill[i] / answered[i]), votes=int(answered[i]), gold_votes=int(on_gold[i]))
             for voter, i in voter_index.items() if answered[i]], batch_size=5000)  # fmt: skip
        examples = _guide_examples(subjects, answer_index, results)
        Project.objects.filter(pk=project.pk).update(aggregated_at=started, guide_examples=examples)
    project.aggregated_at, project.guide_examples = started, examples
    return results


def _guide_examples(subjects, answer_index, results):
    """For each answer, the GUIDE_EXAMPLES galaxies the consensus is surest have it (at least
    GUIDE_SURENESS): the field guide shows them, so a volunteer learns from the crowd's clearest cases."""
    examples = {}
    for question, result in results.items():
        for answer, column in answer_index[question].items():
            sureness = result.posteriors[:, column]
            best = [row for row in np.argsort(-sureness)[:GUIDE_EXAMPLES] if sureness[row] >= GUIDE_SURENESS]
            if best:
                examples.setdefault(question, {})[answer] = [subjects[row][0] for row in best]
    return examples


def projects_to_aggregate(tenant):
    """The tenant's projects with votes their last aggregation has not counted (beat's sweep
    aggregates them, every ``settings.AGGREGATE_EVERY_S``): consensus on the target pages and
    the exports follow the volunteers without anyone pressing *Aggregate now*."""
    votes = Classification.objects.filter(project=OuterRef("pk"))
    never = Q(aggregated_at__isnull=True) & Exists(votes)
    since = Exists(votes.filter(created_at__gt=OuterRef("aggregated_at")))
    return list(Project.objects.filter(tenant=tenant).filter(never | since).order_by("pk"))


def _store_consensus(project, subjects, answer_index, results, counts):
    """Each voted galaxy's counts and consensus, written STORE_BATCH rows a statement (an UPDATE
    joined to the rows sent as arrays: Django's bulk_update builds a CASE per row and field,
    which cost a million-vote project most of its aggregation)."""
    names = {question: list(answers) for question, answers in answer_index.items()}
    voted = {question: counts[question].sum(axis=1) > 0 for question in results}
    rows = []
    for row, (pk, _) in enumerate(subjects):
        votes, consensus = {}, {}
        for question, result in results.items():
            if voted[question][row]:
                votes[question] = {a: int(n) for a, n in zip(names[question], counts[question][row]) if n}
                consensus[question] = dict(zip(names[question], np.round(result.posteriors[row], 4).tolist()))
        if votes:
            rows.append((pk, json.dumps(votes), json.dumps(consensus)))
    now = timezone.now()
    with server_cursor() as cursor:  # Django's would quote each array's every element into the text
        for start in range(0, len(rows), STORE_BATCH):
            ids, votes, consensus = zip(*rows[start : start + STORE_BATCH])
            cursor.execute(
                f"UPDATE {Subject._meta.db_table} AS subject SET vote_counts = given.votes::jsonb, "
                "consensus = given.consensus::jsonb, aggregated_at = %s "
                "FROM unnest(%b::bigint[], %b::text[], %b::text[]) AS given(id, votes, consensus) "
                "WHERE subject.id = given.id AND subject.project_id = %s",
                [now, list(ids), list(votes), list(consensus), project.pk],
            )
