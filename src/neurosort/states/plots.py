"""Figures for state classification (returned, never shown): learning curves, confusion."""

from __future__ import annotations

import numpy as np


def learning_curves_figure(histories: list[dict], title: str = ""):
    """Training and validation loss per epoch, one pair of lines per fold."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    axes = figure.subplots()
    for fold, history in enumerate(histories):
        line = axes.plot(history["train_loss"], label=f"fold {fold} train")[0]
        if history["val_loss"]:
            axes.plot(history["val_loss"], "--", color=line.get_color(), label=f"fold {fold} val")
        axes.axvline(history["best_epoch"], color=line.get_color(), alpha=0.3)
    axes.set(xlabel="epoch", ylabel="cross-entropy", title=title or "learning curves")
    axes.legend(fontsize=6, ncol=2)
    figure.tight_layout()
    return figure


def confusion_figure(confusion: np.ndarray, class_names: tuple[str, ...], title: str = ""):
    """Row-normalised confusion matrix with counts in each cell."""
    from matplotlib.figure import Figure

    confusion = np.asarray(confusion)
    fractions = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    figure = Figure(figsize=(1.2 * len(class_names) + 2, 1.0 * len(class_names) + 1.5))
    axes = figure.subplots()
    image = axes.imshow(fractions, vmin=0, vmax=1, cmap="Blues")
    for (row, column), count in np.ndenumerate(confusion):
        colour = "white" if fractions[row, column] > 0.5 else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=colour, fontsize=8)
    ticks = np.arange(len(class_names))
    axes.set_xticks(ticks, class_names, rotation=45, ha="right")
    axes.set_yticks(ticks, class_names)
    axes.set(xlabel="predicted", ylabel="true", title=title)
    figure.colorbar(image, ax=axes, fraction=0.046)
    figure.tight_layout()
    return figure
