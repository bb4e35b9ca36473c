"""Plotly figures for portal pages, returned as JSON for ``Plotly.newPlot``."""

import plotly.graph_objects as go


def sites_world_map(sites):
    """The tenant's sites on a world map, hover showing position, height and telescopes."""
    figure = go.Figure(
        go.Scattergeo(
            lat=[site.latitude_deg for site in sites],
            lon=[site.longitude_deg for site in sites],
            text=[site.name for site in sites],
            customdata=[
                [site.height_m, site.time_zone, ", ".join(t.name for t in site.telescopes.all()) or "none"]
                for site in sites
            ],
            hovertemplate=(
                "<b>%{text}</b><br>lat %{lat:.3f}°, lon %{lon:.3f}°<br>height %{customdata[0]:.0f} m"
                "<br>%{customdata[1]}<br>telescopes: %{customdata[2]}<extra></extra>"
            ),
            mode="markers+text",
            textposition="top center",
            marker={"size": 11, "color": "#e4572e", "line": {"width": 1, "color": "#fff"}},
        )
    )
    figure.update_geos(
        projection_type="natural earth",
        showland=True,
        landcolor="#e8ecef",
        showocean=True,
        oceancolor="#cfe3f2",
        showcountries=True,
        countrycolor="#b8c2cc",
        fitbounds=False,
        lataxis_range=[-60, 85],
        lonaxis_range=[-180, 180],
    )
    figure.update_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0}, height=360)
    return figure.to_json()


def api_key_usage(keys, usage):
    """Calls per UTC day of each key that made any (bars, stacked), errors as a line over them."""
    figure = go.Figure()
    used = [(key, usage[key.pk]) for key in keys if any(usage[key.pk]["calls"])]
    for key, counts in used:
        figure.add_bar(x=counts["days"], y=counts["calls"], name=f"{key.name} (ask_{key.prefix}_…)",
                       hovertemplate="%{x|%d %b}: %{y} calls<extra>%{fullData.name}</extra>")  # fmt: skip
    if used:
        errors = [sum(day) for day in zip(*(counts["errors"] for _, counts in used))]
        figure.add_scatter(x=used[0][1]["days"], y=errors, name="errors (every key)",
                           mode="lines+markers", line={"color": "#c0392b"},
                           hovertemplate="%{x|%d %b}: %{y} errors<extra></extra>")  # fmt: skip
    figure.update_layout(barmode="stack", height=280, margin={"l": 40, "r": 10, "t": 10, "b": 30},
                         yaxis_title="calls a day (UTC)", legend={"orientation": "h", "y": -0.2})  # fmt: skip
    return figure.to_json()
