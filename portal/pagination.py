"""API pages of at most API_MAX_PAGE_SIZE rows: without a cap ``?limit=100000`` returned every
row, and a limit past bigint reached PostgreSQL as an error (a 500)."""

from django.conf import settings
from rest_framework.pagination import LimitOffsetPagination

from .parameters import integer


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """``limit`` from 1 to API_MAX_PAGE_SIZE and ``offset`` from 0, each refused with a 400
    naming it when out of range or not an integer, rather than quietly replaced by the default."""

    @property
    def max_limit(self):
        return settings.API_MAX_PAGE_SIZE

    def get_limit(self, request):
        if self.limit_query_param not in request.query_params:
            return self.default_limit
        return integer(request.query_params, self.limit_query_param, minimum=1, maximum=self.max_limit)

    def get_offset(self, request):
        if self.offset_query_param not in request.query_params:
            return 0
        return integer(request.query_params, self.offset_query_param, minimum=0)
