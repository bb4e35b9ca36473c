from django import template

register = template.Library()


@register.filter
def angle_from_degrees(value):
    """An angular distance in degrees, written the way astronomers read it: 0.4″, 12.3′, 1.25°."""
    if value is None:
        return ""
    if value < 1 / 60:
        return f"{value * 3600:.1f}″"
    if value < 1:
        return f"{value * 60:.2f}′"
    return f"{value:.3f}°"
