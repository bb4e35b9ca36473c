"""Plotly figures of alerts, as JSON for ``Plotly.newPlot``."""

import plotly.graph_objects as go

BAND_COLOURS = {"g": "#2a9d8f", "r": "#e4572e", "i": "#7b2d26", "z": "#555"}


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
    """An object's detections (alerts and the history they carried) and upper limits, per band."""
    points = {}
    for alert in alerts:
        for point in [*alert.history, {"mjd": alert.mjd, "band": alert.band, "magnitude": alert.magnitude,
                                       "error": alert.magnitude_error}]:  # fmt: skip
            points[(round(point["mjd"], 5), point["band"])] = point
    figure = go.Figure()
    for band in sorted({band for _, band in points}):
        detected = sorted((p for (_, b), p in points.items() if b == band and p.get("magnitude") is not None),
                          key=lambda p: p["mjd"])  # fmt: skip
        limits = sorted((p for (_, b), p in points.items() if b == band and p.get("magnitude") is None),
                        key=lambda p: p["mjd"])  # fmt: skip
        colour = BAND_COLOURS.get(band, "#555")
        figure.add_trace(go.Scatter(x=[p["mjd"] for p in detected], y=[p["magnitude"] for p in detected],
                                    error_y={"type": "data", "array": [p["error"] for p in detected]},
                                    mode="markers+lines", name=band, marker={"color": colour, "size": 7}))  # fmt: skip
        if limits:
            figure.add_trace(go.Scatter(x=[p["mjd"] for p in limits], y=[p["limit"] for p in limits], mode="markers",
                                        name=f"{band} upper limit", marker={"color": colour, "symbol": "triangle-down",
                                                                            "size": 7, "opacity": 0.4}))  # fmt: skip
    figure.update_layout(xaxis={"title": "MJD"}, yaxis={"title": "magnitude", "autorange": "reversed"},
                         height=280, margin={"l": 50, "r": 10, "t": 10, "b": 40},
                         legend={"orientation": "h", "y": -0.3})  # fmt: skip
    return figure.to_json()
