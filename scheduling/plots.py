"""Plotly figures for scheduling pages, returned as JSON for ``Plotly.newPlot``."""

import plotly.graph_objects as go

from .visibility import SUN_MAX_ALTITUDE_DEG


def visibility_figure(skies, ra_deg, dec_deg, constraints):
    """A target's altitude through each site's sky (``SiteSky`` of the same span), solid where
    it may be observed under ``constraints`` and dotted where not, with the Sun's altitude and
    the site's horizon limit: what an astronomer reads to see when, and why not."""
    figure = go.Figure()
    for sky in skies:
        judged = sky.judge([ra_deg], [dec_deg], constraints).of(0)
        altitude, hover = judged.altitude_deg, list(zip(judged.airmass, judged.moon_distance_deg))
        times = sky.starts.datetime
        name = sky.site.name
        figure.add_trace(go.Scatter(x=times, y=altitude, mode="lines", line={"dash": "dot", "width": 1},
                                    name=f"{name}: altitude", customdata=hover,
                                    hovertemplate="%{x|%H:%M} UTC: %{y:.1f}°, airmass %{customdata[0]:.2f}, "
                                                  "Moon %{customdata[1]:.0f}° away<extra></extra>"))  # fmt: skip
        figure.add_trace(go.Scatter(x=times, y=[a if ok else None for a, ok in zip(altitude, judged.usable)],
                                    mode="lines", line={"width": 4}, name=f"{name}: observable",
                                    hoverinfo="skip"))  # fmt: skip
        figure.add_trace(go.Scatter(x=times, y=sky.sun_altitude_deg, mode="lines", name=f"{name}: Sun",
                                    line={"color": "#f2a900", "width": 1}, hoverinfo="skip"))  # fmt: skip
        figure.add_hline(y=sky.site.horizon_limit_deg, line={"color": "#b8c2cc", "dash": "dash"},
                         annotation_text=f"{name} horizon limit")  # fmt: skip
    figure.add_hline(y=SUN_MAX_ALTITUDE_DEG, line={"color": "#f2a900", "dash": "dot"},
                     annotation_text="astronomical twilight")  # fmt: skip
    figure.update_layout(yaxis={"title": "altitude (°)", "range": [-30, 90]}, xaxis={"title": "UTC"}, height=320,
                         margin={"l": 50, "r": 10, "t": 10, "b": 40}, legend={"orientation": "h"})  # fmt: skip
    return figure.to_json()
