"""Plotly figures of alerts, as JSON for ``Plotly.newPlot``."""

import plotly.graph_objects as go

BAND_COLOURS = {"u": "#6a4c93", "g": "#2a9d8f", "r": "#e4572e", "i": "#7b2d26", "z": "#555", "y": "#8d6e63"}


def sky_map(messages):
    """Alerts on the whole sky (Mollweide, RA increasing to the left as on the sky), coloured
    by class; the dashboard appends new ones to the one trace as they arrive."""
    figure = go.Figure(go.Scattergeo(
        lon=[_longitude(m["ra_deg"]) for m in messages], lat=[m["dec_deg"] for m in messages],
        text=[m["object_id"] for m in messages], customdata=[[m["ra_deg"], m["magnitude"]] for m in messages],
        hovertemplate="<b>%{text}</b><br>RA %{customdata[0]:.4f}°, Dec %{lat:.4f}°<br>%{customdata[1]} mag"
                      "<extra></extra>",
        mode="markers", marker={"size": 7, "color": "#e4572e", "line": {"width": 0.5, "color": "#fff"}},
    ))  # fmt: skip
    figure.update_geos(projection_type="mollweide", showland=False, showcoastlines=False, showcountries=False,
                       showframe=True, bgcolor="#0b1d2a", lataxis={"showgrid": True, "dtick": 30, "gridcolor": "#335"},
                       lonaxis={"showgrid": True, "dtick": 30, "gridcolor": "#335"})  # fmt: skip
    figure.update_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0}, height=300, paper_bgcolor="rgba(0,0,0,0)")
    return figure.to_json()


def _longitude(ra_deg):
    """Map longitude for a right ascension: 0 h in the middle, RA growing to the left."""
    return 180.0 - ra_deg if ra_deg <= 180 else 540.0 - ra_deg


def light_curve(alerts):
    """An object's detections (alerts and the history they carried) and upper limits, per band.
    Negative detections (fainter than the template: the magnitude is the size of a flux that
    went down) are open markers of their own, not joined to the others' line, so a star
    fading below its template does not read as one brightening."""
    points = {}
    for alert in alerts:
        for point in [*alert.history, {"mjd": alert.mjd, "band": alert.band, "magnitude": alert.magnitude,
                                       "error": alert.magnitude_error, "positive": alert.positive}]:  # fmt: skip
            points[(round(point["mjd"], 5), point["band"])] = point
    figure = go.Figure()
    for band in sorted({band for _, band in points}):
        in_band = sorted((p for (_, b), p in points.items() if b == band), key=lambda p: p["mjd"])
        measured = [p for p in in_band if p.get("magnitude") is not None]
        positive = [p for p in measured if p.get("positive", True)]  # stored before the sign was kept: positive
        negative = [p for p in measured if not p.get("positive", True)]
        limits = [p for p in in_band if p.get("magnitude") is None]
        colour = BAND_COLOURS.get(band, "#555")
        if positive:
            figure.add_trace(go.Scatter(x=[p["mjd"] for p in positive], y=[p["magnitude"] for p in positive],
                                        error_y={"type": "data", "array": [p["error"] for p in positive]},
                                        mode="markers+lines", name=band, legendgroup=band,
                                        marker={"color": colour, "size": 7}))  # fmt: skip
        if negative:
            figure.add_trace(go.Scatter(x=[p["mjd"] for p in negative], y=[p["magnitude"] for p in negative],
                                        error_y={"type": "data", "array": [p["error"] for p in negative]},
                                        mode="markers", name=f"{band} negative (fainter than the template)",
                                        legendgroup=band, marker={"color": colour, "size": 8,
                                                                  "symbol": "circle-open", "line": {"width": 2}},
                                        hovertemplate="MJD %{x:.5f}<br>negative detection: the flux of a "
                                                      "%{y:.2f} mag source below the template<extra></extra>"))  # fmt: skip
        if limits:
            figure.add_trace(go.Scatter(x=[p["mjd"] for p in limits], y=[p["limit"] for p in limits], mode="markers",
                                        name=f"{band} upper limit", legendgroup=band,
                                        marker={"color": colour, "symbol": "triangle-down", "size": 7,
                                                "opacity": 0.4}))  # fmt: skip
    figure.update_layout(xaxis={"title": "MJD"}, yaxis={"title": "magnitude", "autorange": "reversed"},
                         height=280, margin={"l": 50, "r": 10, "t": 10, "b": 40},
                         legend={"orientation": "h", "y": -0.3})  # fmt: skip
    return figure.to_json()
