"""Plotly figures of alerts, as JSON for ``Plotly.newPlot``."""

import plotly.graph_objects as go
from astropy.time import Time

BAND_COLOURS = {"u": "#6a4c93", "g": "#2a9d8f", "r": "#e4572e", "i": "#7b2d26", "z": "#555", "y": "#8d6e63"}


CLASS_COLOURS = {
    "sn_ia": "#ff6b6b",
    "sn_ii": "#ffd166",
    "variable": "#06d6a0",
    "agn": "#4cc9f0",
    "bogus": "#c77dff",
    "": "#8d99ae",
    "other": "#f8961e",
}  # "": unclassified; other: any new class


def sky_map(messages, class_names):
    """Alerts on the whole sky (Mollweide, RA increasing to the left as on the sky), a trace a
    class (the light-curve model's; unclassified grey), with nothing of the Earth drawn. Each
    point's customdata starts with the alert's id, which a click opens. ``layout.meta`` holds
    what the dashboard needs to add a class's trace when its first alert arrives live."""
    template = {"type": "scattergeo", "mode": "markers", "marker": {"size": 6, "line": {"width": 0.4, "color": "#fff"}},
                "hovertemplate": "<b>%{text}</b> #%{customdata[0]} · %{fullData.name}<br>%{customdata[4]} UTC · "
                                 "MJD %{customdata[3]:.5f}<br>RA %{customdata[1]:.4f}°, Dec %{lat:.4f}° · "
                                 "%{customdata[2]:.2f} mag<extra></extra>"}  # fmt: skip
    by_class = {}
    for m in messages:
        by_class.setdefault(m["class"] or "", []).append(m)
    order = [*(label for label in class_names if label in by_class), *sorted(set(by_class) - set(class_names))]
    figure = go.Figure([
        go.Scattergeo(
            {key: value for key, value in template.items() if key != "type"}, name=class_names.get(label, label),
            meta={"class": label},
            marker_color=CLASS_COLOURS.get(label, CLASS_COLOURS["other"]),
            lon=[_longitude(m["ra_deg"]) for m in by_class[label]], lat=[m["dec_deg"] for m in by_class[label]],
            text=[m["object_id"] for m in by_class[label]],
            customdata=[[m["id"], m["ra_deg"], m["magnitude"], m["mjd"], m["observed_at"][:19].replace("T", " ")]
                        for m in by_class[label]],
        ) for label in order
    ])  # fmt: skip
    if not order:  # without a geo trace plotly draws bare cartesian axes, not the empty sky
        figure.add_scattergeo(
            lon=[], lat=[], text=[], customdata=[], showlegend=False, hoverinfo="skip", meta={"class": None}
        )  # the live page reads every trace's points
    figure.update_geos(projection_type="mollweide", showland=False, showocean=False, showlakes=False,
                       showrivers=False, showcoastlines=False, showcountries=False, showsubunits=False,
                       showframe=True, framecolor="#335", bgcolor="#0b1d2a",
                       lataxis={"showgrid": True, "dtick": 30, "gridcolor": "#335", "range": [-90, 90]},
                       lonaxis={"showgrid": True, "dtick": 30, "gridcolor": "#335", "range": [-180, 180]})  # fmt: skip
    # No height: the page's stylesheet gives one for each width.
    figure.update_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0}, paper_bgcolor="#0b1d2a",
                         legend={"orientation": "h", "x": 0, "y": 1, "yanchor": "bottom",
                                 "font": {"color": "#e0e6ed", "size": 11}},
                         meta={"template": template, "colours": CLASS_COLOURS})  # fmt: skip
    return figure.to_json()


def _longitude(ra_deg):
    """Map longitude for a right ascension: 0 h in the middle, RA growing to the left."""
    return 180.0 - ra_deg if ra_deg <= 180 else 540.0 - ra_deg


WHEN = "MJD %{x:.5f} · %{customdata} UTC"


def _dates(points):
    """Each point's UTC date and time, for the hover beside its MJD."""
    return [str(date) for date in Time([p["mjd"] for p in points], format="mjd").strftime("%Y-%m-%d %H:%M:%S")]


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
                                        marker={"color": colour, "size": 7}, customdata=_dates(positive),
                                        hovertemplate=f"{WHEN}<br>%{{y:.2f}} ± %{{error_y.array:.2f}} mag"
                                                      "<extra></extra>"))  # fmt: skip
        if negative:
            figure.add_trace(go.Scatter(x=[p["mjd"] for p in negative], y=[p["magnitude"] for p in negative],
                                        error_y={"type": "data", "array": [p["error"] for p in negative]},
                                        mode="markers", name=f"{band} negative (fainter than the template)",
                                        legendgroup=band, marker={"color": colour, "size": 8,
                                                                  "symbol": "circle-open", "line": {"width": 2}},
                                        customdata=_dates(negative),
                                        hovertemplate=f"{WHEN}<br>negative detection: the flux of a "
                                                      "%{y:.2f} mag source below the template<extra></extra>",
                                        ))  # fmt: skip
        if limits:
            figure.add_trace(go.Scatter(x=[p["mjd"] for p in limits], y=[p["limit"] for p in limits], mode="markers",
                                        name=f"{band} upper limit", legendgroup=band,
                                        marker={"color": colour, "symbol": "triangle-down", "size": 7,
                                                "opacity": 0.4}, customdata=_dates(limits),
                                        hovertemplate=f"{WHEN}<br>fainter than %{{y:.2f}} mag<extra></extra>",
                                        ))  # fmt: skip
    # Whole MJDs, not plotly's "61k" (SI prefixes); a night shorter than a day gets decimals.
    figure.update_layout(xaxis={"title": "MJD (UTC)", "tickformat": ".5~f", "exponentformat": "none"},
                         yaxis={"title": "magnitude", "autorange": "reversed"},
                         height=280, margin={"l": 50, "r": 10, "t": 10, "b": 40},
                         legend={"orientation": "h", "y": -0.3})  # fmt: skip
    return figure.to_json()
