"""Which of the tenant's telescopes, instruments and filters a frame's header names.

By the sites' header rules first (a site's control software writes its own names, and some
files name their telescope only through another keyword: INSTRUME = 'WFPC2', an ESO
HIERARCH card), then by the portal's own codes and names; SITEID (or OBSERVAT) narrows both
to one site. A batch of files loads the rules once and looks up each distinct set of header
values once.
"""

from dataclasses import dataclass

from django.db.models import Q
from django.urls import reverse

from portal.models import Filter, HeaderRule, Instrument, Telescope

from .fits import FrameRejected

STANDARD_KEYWORDS = ("TELESCOP", "SITEID", "OBSERVAT", "INSTRUME", "FILTER")
# Shown in a refusal for a file without TELESCOP: the values a rule could name the telescope by.
HINT_KEYWORDS = ("INSTRUME", "OBSERVAT", "ORIGIN", "DETECTOR")


def rules_hint(verb="map it to one of your telescopes"):
    """What an admin can do about a header the portal cannot match, and where."""
    return f"; an admin can {verb} with a header rule at {reverse('admin:portal_headerrule_add')}"


@dataclass
class Equipment:
    telescope: Telescope
    instrument: Instrument | None
    filter_name: str
    calibration: Filter | None  # the instrument's filter of that name, with the site's zero point
    by_rule: bool  # a header rule, not the portal's own codes, named the telescope


class EquipmentMatcher:
    def __init__(self, tenant):
        self.tenant = tenant
        self.rules = list(HeaderRule.objects.filter(tenant=tenant)
                          .select_related("site", "telescope__site", "instrument__telescope"))  # fmt: skip
        read_from = {rule.read_from for rule in self.rules if rule.read_from and rule.keyword in HeaderRule.EQUIPMENT}
        self.keywords = STANDARD_KEYWORDS + tuple(sorted(read_from - set(STANDARD_KEYWORDS)))
        self._found = {}

    def equipment(self, header):
        """The equipment a ``FrameHeader`` names, looked up once per distinct set of values. A
        refusal is not kept: its message quotes the file's own header (the keywords a rule
        could use, a primary header's value withheld by INHERIT = F), which files sharing
        those values need not share."""
        values = tuple(str(header.get(keyword, "")).strip() for keyword in self.keywords)
        if values not in self._found:
            self._found[values] = self._match(dict(zip(self.keywords, values)), header)
        return self._found[values]

    def time_rule(self, equipment, header):
        """The DATE-OBS rule of the frame's site whose pattern matches its TELESCOP, if any."""
        name = str(header.get("TELESCOP", "")).strip()
        return next((rule for rule in self.rules if rule.keyword == "DATE-OBS"
                     and rule.site_id == equipment.telescope.site_id and rule.matches(name)), None)  # fmt: skip

    def _match(self, values, header):
        name, site = values["TELESCOP"], values["SITEID"] or values["OBSERVAT"]
        rules = [rule for rule in self.rules if not site or _at_site(rule.site, site)]
        by_rule = {rule.telescope for rule in rules if rule.keyword == "TELESCOP" and _matches(rule, values)}
        if len(by_rule) > 1:
            names = ", ".join(sorted(str(telescope) for telescope in by_rule))
            raise FrameRejected(f"TELESCOP {name!r} matches header rules for several telescopes ({names}); "
                                "add SITEID to the header or make the rules narrower")  # fmt: skip
        ruled = bool(by_rule)
        if ruled:
            telescope = by_rule.pop()
        elif not name:
            raise FrameRejected(_no_telescope(header))
        else:
            telescope = self._telescope_by_name(name, site)
        site_rules = [rule for rule in rules if rule.site_id == telescope.site_id]
        instrument_code, filter_name = values["INSTRUME"], values["FILTER"]
        instrument = next((rule.instrument for rule in site_rules if rule.keyword == "INSTRUME"
                           and rule.instrument.telescope_id == telescope.pk and _matches(rule, values)),
                          None)  # fmt: skip
        if instrument is None and instrument_code:
            instrument = telescope.instruments.filter(code__iexact=instrument_code).first()
        filter_name = next((rule.filter_name for rule in site_rules if rule.keyword == "FILTER"
                            and _matches(rule, values)), filter_name)[:30]  # fmt: skip
        calibration = None
        if instrument is not None and filter_name:
            calibration = instrument.filters.filter(name__iexact=filter_name).first()
        return Equipment(telescope, instrument, filter_name, calibration, by_rule=ruled)

    def _telescope_by_name(self, name, site):
        telescopes = Telescope.objects.filter(tenant=self.tenant).filter(Q(code__iexact=name) | Q(name__iexact=name))
        if site:
            telescopes = telescopes.filter(Q(site__code__iexact=site) | Q(site__name__iexact=site))
        matches = list(telescopes.select_related("site"))
        if len(matches) != 1:
            where = f" at site {site!r}" if site else ""
            problem = "matches no telescope" if not matches else "matches several telescopes"
            raise FrameRejected(f"TELESCOP {name!r}{where} {problem} of this observatory (unknown site or telescope)"
                                + rules_hint())  # fmt: skip
        return matches[0]


def _matches(rule, values):
    """Whether the rule's pattern matches the value of the keyword it reads (its own by default)."""
    keyword = rule.read_from or rule.keyword
    value = values.get(keyword, "")
    return bool(value) and rule.matches(value)


def _at_site(site, named):
    return named.lower() in (site.code.lower(), site.name.lower())


def _no_telescope(header):
    present = ", ".join(f"{keyword} = {header.get(keyword)!r}" for keyword in HINT_KEYWORDS if keyword in header)
    example = f" (it has {present})" if present else ""
    return ("no TELESCOP keyword in the image or primary header: which telescope took it?"
            + header.where_withheld("TELESCOP")
            + rules_hint(f"name the telescope from another keyword{example}"))  # fmt: skip
