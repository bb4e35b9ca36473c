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


STATE_COLOURS = {"planned": "#3d7fd6", "started": "#2f9e44", "completed": "#868e96", "failed": "#e03131"}
FOLLOW_UP_COLOUR = "#f76707"


def night_figure(observations, telescopes, now):
    """Each telescope's night as a Gantt chart: a bar per observation from its start to its
    end, coloured by state (follow-ups in orange while planned), with the request or
    follow-up and its target on hover, and a line at ``now``."""
    figure = go.Figure()
    names = {telescope.pk: f"{telescope.name} ({telescope.site.code})" for telescope in telescopes}
    for state, colour in STATE_COLOURS.items():
        for follow_ups in (False, True):
            chosen = [o for o in observations if o.state == state and (o.follow_up_id is not None) == follow_ups]
            if not chosen:
                continue
            label = ("follow-up " if follow_ups else "") + state
            figure.add_trace(go.Bar(
                orientation="h", name=label, y=[names[o.telescope_id] for o in chosen],
                base=[o.start.isoformat() for o in chosen],
                x=[(o.end - o.start).total_seconds() * 1000 for o in chosen],
                marker={"color": FOLLOW_UP_COLOUR if follow_ups and state == "planned" else colour},
                customdata=[[_what(o), (o.request or o.follow_up).target.name, f"{o.start:%H:%M}", f"{o.end:%H:%M}"]
                            for o in chosen],
                hovertemplate="%{customdata[0]}: %{customdata[1]}<br>%{customdata[2]}–%{customdata[3]} UTC"
                              "<extra>" + label + "</extra>",
            ))  # fmt: skip
    figure.add_vline(x=now.isoformat(), line={"color": "#212529", "dash": "dot"})
    figure.update_layout(barmode="overlay", xaxis={"type": "date", "title": "UTC"}, height=120 + 40 * len(names),
                         yaxis={"categoryorder": "array", "categoryarray": list(names.values())},
                         margin={"l": 10, "r": 10, "t": 10, "b": 40}, legend={"orientation": "h"})  # fmt: skip
    return figure.to_json()


def _what(observation):
    if observation.request_id:
        return f"request {observation.request_id} (priority {observation.priority:g})"
    return f"follow-up {observation.follow_up_id}"
