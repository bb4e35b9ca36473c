"""API errors as RFC 9457 problem details, so partners' clients get one shape for every failure:
DRF's own (the exception handler), and Django's — an unknown route, a refused Host, a body or
form over its limit, a server error — through the project's handler400/404/500, which answer
problem+json on ``/api/`` paths and leave every other path to Django's pages."""

from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import Resolver404
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.views import exception_handler

from . import api_usage
from .models import ApiKey
from .parameters import ParameterInvalid

PROBLEM_CONTENT_TYPE = "application/problem+json"


class BodyTooLarge(exceptions.APIException):
    """A request body over the endpoint's limit: 413, the limit stated."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "the request body is too large"


def problem_exception_handler(exc, context):
    if isinstance(exc, ParameterInvalid):
        exc = exceptions.ValidationError({exc.field: exc.message})
    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        problem = {"title": "Invalid input", "detail": _first_error(data), "errors": data}
    else:
        detail = data.get("detail", "") if isinstance(data, dict) else str(data)
        problem = {"title": response.status_text, "detail": str(detail)}
    problem = {"type": "about:blank", "status": response.status_code, **problem}
    response.data = problem
    response.content_type = PROBLEM_CONTENT_TYPE
    # The key, once authentication has run (``auth`` itself would authenticate, here, a call
    # refused before it): its tenant's admins see its errors on the keys page.
    request = context.get("request")
    key = getattr(request, "_auth", None)
    if isinstance(key, ApiKey):
        api_usage.count_error(key.pk, response.status_code, call_counted=getattr(request, "call_counted", False))
    return response


def _first_error(errors, path=""):
    """A one-line description of the first invalid field, e.g. 'latitude_deg: Ensure this value…'."""
    if isinstance(errors, dict):
        for field, value in errors.items():
            name = field if field != "non_field_errors" else ""
            return _first_error(value, f"{path}.{name}" if path and name else (name or path))
    if isinstance(errors, list) and errors:
        return _first_error(errors[0], path)
    return f"{path}: {errors}" if path else str(errors)


def problem_response(status_code, title, detail, **extra):
    """A problem+json response outside DRF (Django's handlers, middleware)."""
    body = {"type": "about:blank", "status": status_code, "title": title, "detail": detail, **extra}
    return JsonResponse(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


def is_api(request):
    return request.path_info.startswith("/api/")


def bad_request(request, exception):
    """handler400: Django's refusals (a Host not served, a body or form over its limit, a bad
    query parameter) said as problem+json on the API; a bad query parameter on a page is a
    page naming it; everything else is Django's own page."""
    if isinstance(exception, RequestDataTooBig | TooManyFieldsSent | TooManyFilesSent):
        return _too_large(request, exception)
    if isinstance(exception, ParameterInvalid):
        if is_api(request):
            return problem_response(400, "Invalid input", str(exception), errors={exception.field: exception.message})
        return render(request, "portal/bad_request.html", {"problem": str(exception)}, status=400)
    if not is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, DisallowedHost):
        return problem_response(400, "Bad Request", "the Host header names no host this portal serves")
    return problem_response(400, "Bad Request", "the request is malformed")


def _too_large(request, exception):
    """413 naming the limit that was passed: the body's size, or the count of form fields or files."""
    if isinstance(exception, RequestDataTooBig):
        detail = (f"the request body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes, this endpoint's limit "
                  f"(alerts may send up to {settings.ALERTS_API_MAX_BODY_BYTES:,} to /api/v1/alerts/)")  # fmt: skip
    elif isinstance(exception, TooManyFieldsSent):
        detail = f"the form has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,} fields"
    else:
        detail = f"the request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES:,} files"
    if not is_api(request):
        return render(request, "portal/bad_request.html", {"problem": detail, "too_large": True}, status=413)
    return problem_response(413, "Content Too Large", detail)


def page_not_found(request, exception):
    """handler404: on the API, an unknown route is a problem naming the path."""
    if not is_api(request):
        return defaults.page_not_found(request, exception)
    if isinstance(exception, Resolver404):
        return problem_response(404, "Not Found", f"{request.path} is not an API endpoint; the API's root is /api/v1/")
    return problem_response(404, "Not Found", "no such object")


def server_error(request):
    """handler500: on the API a generic problem (the traceback goes to the log, not the client)."""
    if not is_api(request):
        return defaults.server_error(request)
    return problem_response(500, "Internal Server Error", "the portal failed to answer; the error is logged")
