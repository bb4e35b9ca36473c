"""Portal models: who shares the portal (tenancy) and what they observe with (facilities)."""

from .facilities import Filter, HeaderRule, Instrument, Site, Telescope
from .jobs import Job
from .tenancy import ApiKey, Membership, Role, Tenant, TenantOwned

__all__ = [
    "ApiKey",
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
]
