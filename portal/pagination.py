"""API pages by cursor, in every list's own order.

An offset page had to count every row it could show (``count``) and skip every row before it:
a page of targets cost PostgreSQL 27 ms at 20,000 rows and grew with them, and a row added
while a partner paged moved every later page by one. A cursor names the row a page starts
after, so each page costs what its rows cost and none is seen twice or skipped.

``limit`` is from 1 to API_MAX_PAGE_SIZE (default PAGE_SIZE); a ``limit`` or ``cursor`` that
cannot be used is a 400 naming it. ``next`` and ``previous`` are the links to follow.
"""

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import ForeignKey, QuerySet
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination

from .parameters import ParameterInvalid, integer


class OrderedCursorPagination(CursorPagination):
    """DRF's cursor pagination in the order each list already has: its queryset's ``order_by``,
    else the model's ordering, with the primary key last so rows that tie keep one order. The
    cursor's position is the first field's value; it must be a column of the model that is
    never null, else the list pages in order of id. A list that is not a queryset (a cone
    search's matches, nearest first, already capped) pages by position in the list."""

    page_size_query_param = "limit"
    cursor_query_param = "cursor"
    invalid_cursor_message = "not a cursor this list gave: follow the 'next' and 'previous' links as they are"

    @property
    def max_page_size(self):
        return settings.API_MAX_PAGE_SIZE

    @property
    def offset_cutoff(self):
        return max(1000, settings.CONE_SEARCH_MAX_RESULTS)

    def get_page_size(self, request):
        if self.page_size_query_param not in request.query_params:
            return self.page_size
        return integer(request.query_params, self.page_size_query_param, minimum=1, maximum=self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        if isinstance(queryset, QuerySet):
            self.listed, self.model = None, queryset.model
            return super().paginate_queryset(queryset, request, view)
        self.request, self.listed = request, list(queryset)
        self.page_size, self.base_url = self.get_page_size(request), request.build_absolute_uri()
        self.cursor = self.decode_cursor(request)
        self.start = self.cursor.offset if self.cursor else 0
        self.page = self.listed[self.start : self.start + self.page_size]
        self.has_next = self.start + self.page_size < len(self.listed)
        self.has_previous = self.start > 0
        return self.page

    def get_next_link(self):
        if self.listed is None:
            return super().get_next_link()
        return self.encode_cursor(Cursor(self.start + self.page_size, False, None)) if self.has_next else None

    def get_previous_link(self):
        if self.listed is None:
            return super().get_previous_link()
        previous = Cursor(max(0, self.start - self.page_size), False, None)
        return self.encode_cursor(previous) if self.has_previous else None

    def get_ordering(self, request, queryset, view):
        ordering = list(queryset.query.order_by or queryset.model._meta.ordering)
        position = _position_column(queryset.model, ordering[0]) if ordering and isinstance(ordering[0], str) else None
        if position is None:
            return ("pk",)
        ordering[0] = position
        if not {"pk", "-pk", "id", "-id"} & set(ordering):
            ordering.append("pk")
        return tuple(ordering)

    def decode_cursor(self, request):
        """DRF's cursor, or a 400 naming it: one that is not DRF's (DRF would answer 404), or whose
        position the list's first ordering column cannot hold (it would reach PostgreSQL as an
        error). DRF asks for it once ``self.ordering`` is known."""
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise ParameterInvalid(self.cursor_query_param, self.invalid_cursor_message) from None
        if cursor is not None and cursor.position is not None and self.listed is None:
            name = self.ordering[0].lstrip("-")
            field = self.model._meta.pk if name == "pk" else self.model._meta.get_field(name)
            try:
                field.to_python(cursor.position)
            except ValidationError:
                raise ParameterInvalid(self.cursor_query_param, self.invalid_cursor_message) from None
        return cursor


def _position_column(model, order):
    """``order`` as a column a cursor can hold (a foreign key by its id), or None if it is not a
    non-null column of ``model`` itself."""
    descending, name = order.startswith("-"), order.lstrip("-")
    if "__" in name:
        return None
    if name == "pk":
        return order
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    if not getattr(field, "concrete", False) or field.null:
        return None
    column = field.attname if isinstance(field, ForeignKey) else field.name
    return f"-{column}" if descending else column
