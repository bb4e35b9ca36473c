"""API errors as RFC 9457 problem details, so partners' clients get one shape for every failure."""

from rest_framework import exceptions
from rest_framework.views import exception_handler


def problem_exception_handler(exc, context):
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
    response.content_type = "application/problem+json"
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
