"""Plotly figures for model versions: how they did, and how they learned."""

import plotly.graph_objects as go


def confusion_matrix(version):
    """Held-out counts, true class down, predicted class across; None when not measured."""
    matrix = version.metrics.get("confusion_matrix")
    names = version.config.get("label_names") or version.model.class_names
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
    figure.add_trace(go.Scatter(x=epochs, y=[row.get("val_accuracy") for row in history], name="validation accuracy",
                                mode="lines+markers", yaxis="y2"))  # fmt: skip
    figure.update_layout(xaxis_title="epoch", yaxis_title="loss", height=320,
                         yaxis2={"title": "accuracy", "overlaying": "y", "side": "right", "range": [0, 1], "dtick": 0.2,
                                 "showgrid": False},
                         margin={"l": 60, "r": 60, "t": 20, "b": 50}, legend={"orientation": "h"})  # fmt: skip
    return figure.to_json()
