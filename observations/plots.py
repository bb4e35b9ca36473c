"""Plotly figures for targets."""

import numpy as np
import plotly.graph_objects as go
from astropy import units as u
from astropy.coordinates import SkyCoord


def neighbourhood(target, neighbours, radius_arcmin):
    """The target and its neighbours on the sky, as offsets in arcmin (east to the left)."""
    centre = SkyCoord(target.ra_deg * u.deg, target.dec_deg * u.deg)
    others = [n for n in neighbours if n.pk != target.pk]
    figure = go.Figure()
    if others:
        coords = SkyCoord([n.ra_deg for n in others] * u.deg, [n.dec_deg for n in others] * u.deg)
        east, north = centre.spherical_offsets_to(coords)
        figure.add_trace(
            go.Scatter(
                x=east.to_value(u.arcmin),
                y=north.to_value(u.arcmin),
                mode="markers+text",
                text=[n.name for n in others],
                textposition="top center",
                marker={"size": 8, "color": "#54aeff"},
                hovertemplate="%{text}<br>Δα cosδ %{x:.2f}′, Δδ %{y:.2f}′<extra></extra>",
                name="neighbours",
            )
        )
    figure.add_trace(
        go.Scatter(
            x=[0],
            y=[0],
            mode="markers",
            marker={"size": 14, "color": "#e4572e", "symbol": "star"},
            name=target.name,
            hovertemplate=f"{target.name}<extra></extra>",
        )  # fmt: skip
    )
    theta = np.linspace(0, 2 * np.pi, 200)
    figure.add_trace(
        go.Scatter(
            x=radius_arcmin * np.cos(theta),
            y=radius_arcmin * np.sin(theta),
            mode="lines",
            line={"color": "#b8c2cc", "dash": "dot"},
            hoverinfo="skip",
            showlegend=False,
        )  # fmt: skip
    )
    limit = radius_arcmin * 1.1
    figure.update_layout(
        xaxis={"title": "Δα cos δ (arcmin, east ←)", "range": [limit, -limit], "zeroline": False},
        yaxis={"title": "Δδ (arcmin, north ↑)", "range": [-limit, limit], "scaleanchor": "x", "zeroline": False},
        margin={"l": 50, "r": 10, "t": 10, "b": 40},
        height=380,
        showlegend=False,
    )
    return figure.to_json()


def frame_footprint(frame, links):
    """The frame's outline on the sky with the targets inside it (RA increasing to the left)."""
    corners = frame.footprint + frame.footprint[:1]
    figure = go.Figure(
        go.Scatter(
            x=[c[0] for c in corners],
            y=[c[1] for c in corners],
            mode="lines",
            fill="toself",
            line={"color": "#1f6feb"},
            fillcolor="rgba(31,111,235,0.08)",
            name="footprint",
            hovertemplate="RA %{x:.5f}°, Dec %{y:.5f}°<extra></extra>",
        )  # fmt: skip
    )
    if links:
        figure.add_trace(
            go.Scatter(x=[link.target.ra_deg for link in links], y=[link.target.dec_deg for link in links],
                       mode="markers+text", text=[link.target.name for link in links], textposition="top center",
                       marker={"size": 10, "color": "#e4572e", "symbol": "star"}, name="targets",
                       customdata=[[link.x_px, link.y_px] for link in links],
                       hovertemplate="%{text}<br>pixel (%{customdata[0]:.1f}, %{customdata[1]:.1f})<extra></extra>")
        )  # fmt: skip
    stretch = 1 / max(0.05, np.cos(np.radians(frame.dec_center_deg)))  # a degree of RA is cos(δ) on the sky
    figure.update_layout(
        xaxis={"title": "RA (deg)", "autorange": "reversed"},
        yaxis={"title": "Dec (deg)", "scaleanchor": "x", "scaleratio": stretch},
        margin={"l": 60, "r": 10, "t": 10, "b": 40}, height=360, showlegend=False,
    )  # fmt: skip
    return figure.to_json()


SITE_SYMBOLS = ["circle", "square", "diamond", "triangle-up", "cross", "star", "x", "hexagon"]
FILTER_COLOURS = {"u": "#7b3294", "g": "#1a9641", "r": "#d7191c", "i": "#a6611a", "z": "#4d4d4d",
                  "B": "#2b83ba", "V": "#66bd63", "R": "#f46d43"}  # fmt: skip


def light_curve(points):
    """Magnitude against MJD: one trace per filter and site (colour = filter, symbol = site)."""
    from astropy.time import Time

    figure = go.Figure()
    detected = [p for p in points if p.mag is not None]
    sites = sorted({p.site.code if p.site else "?" for p in detected})
    groups = {}
    for point in detected:
        groups.setdefault((point.filter_name, point.site.code if point.site else "?"), []).append(point)
    for (filter_name, site), group in sorted(groups.items()):
        dates = Time([p.mjd for p in group], format="mjd").to_datetime()
        figure.add_trace(
            go.Scatter(
                x=[p.mjd for p in group], y=[p.mag for p in group], mode="markers",
                error_y={"type": "data", "array": [p.mag_err for p in group], "thickness": 1},
                name=f"{filter_name} · {site}",
                marker={"size": 8, "color": FILTER_COLOURS.get(filter_name, "#555"),
                        "symbol": SITE_SYMBOLS[sites.index(site) % len(SITE_SYMBOLS)]},
                customdata=[[d.strftime("%Y-%m-%d %H:%M"), "" if p.zero_point is not None else " (instrumental)"]
                            for d, p in zip(dates, group)],
                hovertemplate="MJD %{x:.4f} (%{customdata[0]} UTC)<br>%{y:.3f} ± %{error_y.array:.3f} mag"
                              "%{customdata[1]}<extra>%{fullData.name}</extra>",
            )
        )  # fmt: skip
    calibrated = all(p.zero_point is not None for p in detected)
    figure.update_layout(
        xaxis={"title": "MJD", "tickformat": ".0f"},
        yaxis={"title": "magnitude" if calibrated else "magnitude (instrumental where no zero point)",
               "autorange": "reversed"},
        margin={"l": 60, "r": 10, "t": 10, "b": 40}, height=360, legend={"orientation": "h", "y": -0.2},
    )  # fmt: skip
    return figure.to_json()


def fused_light_curve(curve, points):
    """The fused light curve (``observations.light_curves``): one trace a band of its epochs,
    over the raw measurements per site, faint, so the offsets it removed stay visible."""
    figure = go.Figure()
    for point_band, site in sorted({(p.filter_name, p.site.code if p.site else "no site") for p in points
                                    if p.mag is not None}):  # fmt: skip
        group = [p for p in points if p.mag is not None and p.filter_name == point_band
                 and (p.site.code if p.site else "no site") == site]  # fmt: skip
        figure.add_trace(go.Scatter(
            x=[p.mjd for p in group], y=[p.mag for p in group], mode="markers", name=f"{point_band} · {site}, raw",
            opacity=0.35, marker={"size": 6, "color": FILTER_COLOURS.get(point_band, "#555"), "symbol": "circle-open"},
            hovertemplate="MJD %{x:.4f}<br>%{y:.3f} mag on the site's own zero point<extra>%{fullData.name}</extra>",
        ))  # fmt: skip
    for band in sorted({epoch.band for epoch in curve.epochs}):
        epochs = [epoch for epoch in curve.epochs if epoch.band == band]
        scale = "calibrated across sites" if epochs[0].calibrated else "each site's own zero point"
        figure.add_trace(go.Scatter(
            x=[e.mjd for e in epochs], y=[e.mag for e in epochs], mode="lines+markers", name=f"{band}, fused",
            error_y={"type": "data", "array": [e.mag_err for e in epochs], "thickness": 1.5},
            marker={"size": 9, "color": FILTER_COLOURS.get(band, "#555")}, line={"width": 1},
            customdata=[[e.count, ", ".join(e.sites), scale] for e in epochs],
            hovertemplate="MJD %{x:.3f}<br>%{y:.3f} ± %{error_y.array:.3f} mag<br>%{customdata[0]} measurements "
                          "from %{customdata[1]}<br>%{customdata[2]}<extra>%{fullData.name}</extra>",
        ))  # fmt: skip
    figure.update_layout(
        xaxis={"title": "MJD", "tickformat": ".0f"}, yaxis={"title": "magnitude", "autorange": "reversed"},
        margin={"l": 60, "r": 10, "t": 10, "b": 40}, height=380, legend={"orientation": "h", "y": -0.2},
    )  # fmt: skip
    return figure.to_json()
