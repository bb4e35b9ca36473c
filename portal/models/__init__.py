"""Portal models: who shares the portal (tenancy), what they observe with (facilities), and who
changed what (audit)."""

from .audit import Action, AuditEntry, Where
from .facilities import Filter, HeaderRule, Instrument, Site, Telescope
from .jobs import Job
from .tenancy import ApiKey, Membership, Role, Tenant, TenantOwned

__all__ = [
    "Action",
    "ApiKey",
    "AuditEntry",
    "Filter",
    "HeaderRule",
    "Instrument",
    "Job",
    "Membership",
    "Role",
    "Site",
    "Telescope",
    "Tenant",
    "TenantOwned",
    "Where",
]
