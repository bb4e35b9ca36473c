"""``ordering`` on the API's lists: the fields each list may be sorted by (``ordering_fields`` on
its view, each a column that is never null, so the page cursor can follow it), ``-`` before one
for descending, several separated by commas. An ordering a list does not offer is a 400 naming
what it does offer, never silently the default order."""

from django.db.models import QuerySet
from rest_framework.filters import OrderingFilter

from .parameters import ParameterInvalid


class ListOrdering(OrderingFilter):
    def filter_queryset(self, request, queryset, view):
        if self.ordering_param not in request.query_params or getattr(view, "action", None) not in (None, "list"):
            return queryset
        offered = getattr(view, "ordering_fields", None)
        if not offered:
            raise ParameterInvalid(self.ordering_param, "this list has one order; leave out ordering")
        if not isinstance(queryset, QuerySet):
            raise ParameterInvalid(self.ordering_param, "a cone search lists nearest first; leave out ordering")
        asked = request.query_params[self.ordering_param].split(",")
        unknown = [repr(name) for name in asked if name.lstrip("-") not in offered]
        if unknown:
            said = f"sort by {', '.join(offered)}, with '-' before one for descending; not {', '.join(unknown)}"
            raise ParameterInvalid(self.ordering_param, said)
        return queryset.order_by(*asked)

    def get_schema_operation_parameters(self, view):
        offered = getattr(view, "ordering_fields", None)
        if not offered:
            return []
        one = "|".join(offered)
        return [{
            "name": self.ordering_param, "in": "query", "required": False,
            "description": f"sort by {', '.join(offered)}; '-' before one for descending; several separated by commas",
            "schema": {"type": "string", "pattern": f"^-?({one})(,-?({one}))*$", "example": f"-{offered[0]}"},
        }]  # fmt: skip
