"""Plotly figures for model versions: how they did, and how they learned."""

import numpy as np
import plotly.graph_objects as go


def confusion_matrix(version):
    """Held-out counts, true class down, predicted class across (for a vote model, the first
    question's most-voted answer); None when not measured."""
    matrix = version.metrics.get("confusion_matrix")
    names = (
        version.metrics.get("first_question_answers") or version.config.get("label_names") or version.model.class_names
    )
    if not matrix:
        return None
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=names,
            y=names,
            colorscale="Blues",
            text=matrix,
            texttemplate="%{text}",
            hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
        )  # fmt: skip
    )
    figure.update_layout(xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed",
                         margin={"l": 90, "r": 20, "t": 20, "b": 70}, height=380)  # fmt: skip
    return figure.to_json()


def training_curves(version):
    """Loss and accuracy per epoch from the training history; None when there is none."""
    history = version.metrics.get("history") or []
    if not history:
        return None
    epochs = [row["epoch"] for row in history]
    figure = go.Figure()
    for key, name in (("train_loss", "training loss"), ("val_loss", "validation loss")):
        figure.add_trace(go.Scatter(x=epochs, y=[row.get(key) for row in history], name=name, mode="lines+markers"))
    figure.update_layout(xaxis_title="epoch", yaxis_title="loss", height=320,
                         margin={"l": 60, "r": 60, "t": 20, "b": 50}, legend={"orientation": "h"})  # fmt: skip
    if any(row.get("val_accuracy") is not None for row in history):  # a generator has none
        figure.add_trace(go.Scatter(x=epochs, y=[row["val_accuracy"] for row in history], name="validation accuracy",
                                    mode="lines+markers", yaxis="y2"))  # fmt: skip
        figure.update_layout(yaxis2={"title": "accuracy", "overlaying": "y", "side": "right", "range": [0, 1],
                                     "dtick": 0.2, "showgrid": False})  # fmt: skip
    return figure.to_json()


def embedding_map(vectors, labels, names, *, highlight=(), anchor=None):
    """The embedding space flattened by PCA onto its two widest directions, one colour per
    predicted class; ``highlight`` (indices) ringed, ``anchor`` (an index) starred."""
    vectors = np.asarray(vectors, dtype=np.float64)
    centred = vectors - vectors.mean(axis=0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ axes[:2].T
    explained = singular[:2] ** 2 / max(float((singular**2).sum()), 1e-12)
    figure = go.Figure()
    for label in sorted(set(labels)):
        chosen = [i for i, value in enumerate(labels) if value == label]
        figure.add_trace(go.Scattergl(x=xy[chosen, 0], y=xy[chosen, 1], mode="markers", name=label,
                                      text=[names[i] for i in chosen], marker={"size": 6, "opacity": 0.75},
                                      hovertemplate="%{text}<extra>" + label + "</extra>"))  # fmt: skip
    for indices, name, marker in (
        (list(highlight), "neighbours", {"size": 12, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": "#111"}}),
        ([anchor] if anchor is not None else [], "this galaxy", {"size": 18, "symbol": "star", "color": "#f5b700",
                                                                 "line": {"width": 1, "color": "#111"}}),
    ):  # fmt: skip
        if indices:
            figure.add_trace(go.Scatter(x=xy[indices, 0], y=xy[indices, 1], mode="markers", name=name,
                                        marker=marker, text=[names[i] for i in indices],
                                        hovertemplate="%{text}<extra></extra>"))  # fmt: skip
    figure.update_layout(xaxis_title=f"PC 1 ({explained[0]:.0%} of the variance)",
                         yaxis_title=f"PC 2 ({explained[1]:.0%})" if len(explained) > 1 else "PC 2",
                         height=420, margin={"l": 60, "r": 20, "t": 20, "b": 50},
                         legend={"itemsizing": "constant"})  # fmt: skip
    return figure.to_json()


def quality_histograms(report):
    """A generated set's quality report as one panel per statistic: the share of generated, real
    and second-real galaxies in each bin, on common bins; None when the report has none."""
    from plotly.subplots import make_subplots

    drawn = report.get("histograms") or {}
    if not drawn:
        return None
    names = sorted(drawn)
    columns = 4
    rows = -(-len(names) // columns)
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=[name.replace("_", " ") for name in names],
                           horizontal_spacing=0.06, vertical_spacing=0.12)  # fmt: skip
    colours = {"generated": "#d95f02", "real": "#1b9e77", "real_comparison": "#7570b3"}
    legend = {"generated": "generated", "real": "real (reference)", "real_comparison": "real (second set, same size)"}
    for index, name in enumerate(names):
        edges = drawn[name]["edges"]
        centres = [(low + high) / 2 for low, high in zip(edges[:-1], edges[1:])]
        for key, colour in colours.items():
            figure.add_trace(go.Scatter(x=centres, y=drawn[name][key], mode="lines", name=legend[key],
                                        line={"shape": "hvh", "color": colour}, legendgroup=key,
                                        showlegend=index == 0),
                             row=index // columns + 1, col=index % columns + 1)  # fmt: skip
    figure.update_layout(height=230 * rows, margin={"l": 40, "r": 20, "t": 40, "b": 40},
                         legend={"orientation": "h", "y": -0.08})  # fmt: skip
    return figure.to_json()


def recall_bars(comparison):
    """Each class's held-out recall without and with a generated set, side by side (an
    augmentation experiment, ``augmentation.recall_comparison``)."""
    rows = comparison["recall"]
    names = [row["class"].replace("_", " ") for row in rows]
    versions = comparison["versions"]
    figure = go.Figure()
    for key, words in (("without", f"v{versions['without']}: without the set"),
                       ("with", f"v{versions['with']}: with set {comparison['generated_set']}")):  # fmt: skip
        figure.add_trace(go.Bar(x=names, y=[row[key] for row in rows], name=words,
                                text=[f"{row[key]:.0%}" for row in rows], textposition="outside",
                                hovertemplate="%{x}: recall %{y:.1%}<extra>" + words + "</extra>"))  # fmt: skip
    figure.update_layout(barmode="group", yaxis={"title": "recall on held-out real galaxies", "range": [0, 1.12]},
                         height=340, margin={"l": 60, "r": 20, "t": 20, "b": 60},
                         legend={"orientation": "h"})  # fmt: skip
    return figure.to_json()
