"""The report's figures: per-class ROC / precision-recall curves and threshold sweeps, training curves, and the
map of where each class's misses went. Each function returns a matplotlib Figure (Agg, no display needed)."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

from team_code.scoring import f2g2  # noqa: E402
from team_code.scoring.bootstrap import ratio  # noqa: E402

SWEEP = np.linspace(0.0, 1.0, 201)


def png_bytes(fig: Figure, dpi: int = 80) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def record_weights(labels: np.ndarray) -> np.ndarray:
    """Each record's weight in the official contingency tables: 1 / (its number of labels)."""
    num_labels = np.asarray(labels, dtype=bool).sum(axis=1)
    return np.divide(1.0, num_labels, out=np.zeros(len(num_labels)), where=num_labels > 0)


def threshold_sweep(truth: np.ndarray, weight: np.ndarray, probability: np.ndarray,
                    grid: np.ndarray = SWEEP) -> tuple[np.ndarray, np.ndarray]:
    """One class's F2 and G2 (official per-class definitions, records weighted by record_weights) when the
    class is switched on at p >= t for each t of `grid`; the at-least-one-label rule is not applied."""
    truth = np.asarray(truth, dtype=bool)
    on = np.asarray(probability)[:, None] >= grid[None, :]
    tp, fp = (weight * truth) @ on, (weight * ~truth) @ on
    fn = (weight * truth).sum() - tp
    beta2 = f2g2.BETA ** 2
    f2 = ratio((1 + beta2) * tp, (1 + beta2) * tp + beta2 * fn + fp)
    g2 = ratio(tp, tp + fp + f2g2.BETA * fn)
    return f2, g2


def operating_point(truth: np.ndarray, on: np.ndarray) -> tuple[float, float, float]:
    """(false-positive rate, recall, precision) of one class's binary outputs, plain counts as in the curves."""
    truth, on = np.asarray(truth, dtype=bool), np.asarray(on, dtype=bool)
    tp, fp = float(np.sum(truth & on)), float(np.sum(~truth & on))
    positives, negatives = float(truth.sum()), float((~truth).sum())
    return (fp / negatives if negatives else 0.0, tp / positives if positives else 1.0,
            tp / (tp + fp) if tp + fp else 1.0)


def class_curves(cls: str, truth: np.ndarray, probability: np.ndarray, on: np.ndarray, threshold: float | None,
                 weight: np.ndarray, threshold_note: str = "tuned threshold") -> Figure:
    """One class: ROC, precision-recall, and per-class F2 / G2 against this class's threshold, with the scored
    operating point (the binary outputs) marked on the curves and the threshold on the sweep."""
    truth = np.asarray(truth, dtype=bool)
    fig, (roc_ax, pr_ax, sweep_ax) = plt.subplots(1, 3, figsize=(13, 3.6))
    fpr_op, recall_op, precision_op = operating_point(truth, on)
    positives = int(truth.sum())
    if 0 < positives < len(truth):
        fpr, tpr, _ = roc_curve(truth, probability)
        auroc, auprc = f2g2.auc_per_class(truth[:, None], probability[:, None])
        roc_ax.plot(fpr, tpr, color="C0", label=f"AUROC {auroc[0]:.3f} (official)")
        precision, recall, _ = precision_recall_curve(truth, probability)
        pr_ax.plot(recall, precision, color="C0", drawstyle="steps-post", label=f"AUPRC {auprc[0]:.3f} (official)")
    else:
        for ax in (roc_ax, pr_ax):
            ax.text(0.5, 0.5, f"{positives} positive of {len(truth)}:\nno curve", ha="center", va="center")
    roc_ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls=":")
    roc_ax.plot([fpr_op], [recall_op], "o", color="C3", label=f"outputs: sens {recall_op:.2f}, spec {1 - fpr_op:.2f}")
    pr_ax.plot([recall_op], [precision_op], "o", color="C3",
               label=f"outputs: prec {precision_op:.2f}, rec {recall_op:.2f}")
    roc_ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=f"{cls}: ROC ({positives} positive)",
               xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
    pr_ax.set(xlabel="recall", ylabel="precision", title=f"{cls}: precision-recall", xlim=(-0.02, 1.02),
              ylim=(-0.02, 1.02))
    f2, g2 = threshold_sweep(truth, weight, probability)
    sweep_ax.plot(SWEEP, f2, color="C0", label="F2")
    sweep_ax.plot(SWEEP, g2, color="C2", label="G2")
    if threshold is not None:
        sweep_ax.axvline(threshold, color="C3", ls="--", label=f"{threshold_note} {threshold:.3f}")
    sweep_ax.set(xlabel=f"{cls} threshold", ylabel="per-class score", title=f"{cls}: F2 and G2 against its threshold",
                 xlim=(0, 1), ylim=(-0.02, 1.02))
    for ax in (roc_ax, pr_ax, sweep_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right" if ax is roc_ax else "best")
    fig.tight_layout()
    return fig


def training_curves(folds: list[dict]) -> Figure:
    """Training loss and validation cross-entropy per epoch, one panel per fold, the kept (best) epoch marked."""
    columns = min(5, len(folds))
    rows = -(-len(folds) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.9 * columns, 2.4 * rows), squeeze=False, sharey=True)
    for ax in axes.ravel()[len(folds):]:
        ax.set_visible(False)
    for ax, fold in zip(axes.ravel(), folds):
        epochs = [h["epoch"] for h in fold["history"]]
        ax.plot(epochs, [h["train_loss"] for h in fold["history"]], "o-", ms=3, color="C0", label="training loss")
        ax.plot(epochs, [h["val_cross_entropy"] for h in fold["history"]], "o-", ms=3, color="C1",
                label="validation cross-entropy")
        best = fold["best_epoch"]
        ax.plot([best], [fold["best_val_cross_entropy"]], "*", ms=13, color="C3", label="best epoch (kept)")
        ax.set_title(f"fold {fold['fold'] + 1}: best epoch {best}", fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_xticks(epochs)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def miss_matrix(labels: np.ndarray, binary: np.ndarray) -> np.ndarray:
    """classes x classes: cell (i, j), j != i, counts the records of true class i that were not labelled i but
    were labelled j; the diagonal counts the records of class i that were labelled i."""
    labels, binary = np.asarray(labels, dtype=bool), np.asarray(binary, dtype=bool)
    hits = (labels & binary).sum(axis=0)
    matrix = (labels & ~binary).T.astype(int) @ binary.astype(int)
    np.fill_diagonal(matrix, hits)
    return matrix


def miss_heatmap(classes: list[str], labels: np.ndarray, binary: np.ndarray) -> Figure:
    """The miss matrix as a heat map, each row as a share of that class's records; diagonal (hits) in grey."""
    matrix = miss_matrix(labels, binary)
    positives = np.asarray(labels, dtype=bool).sum(axis=0)
    share = np.divide(matrix, positives[:, None], out=np.zeros(matrix.shape), where=positives[:, None] > 0)
    shown = np.ma.masked_array(share, mask=np.eye(len(classes), dtype=bool))
    size = 1.6 + 0.62 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    ax.imshow(np.eye(len(classes)), cmap="Greys", vmin=0, vmax=4)
    image = ax.imshow(shown, cmap="Reds", vmin=0, vmax=max(0.05, float(shown.max() or 0)))
    for i in range(len(classes)):
        for j in range(len(classes)):
            if matrix[i, j] or i == j:
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if i != j and share[i, j] > 0.6 * float(shown.max() or 1) else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), [f"{c} (n={n})" for c, n in zip(classes, positives)])
    ax.set_xlabel("labelled instead (outputs)")
    ax.set_ylabel("true class (missed)")
    ax.set_title("Where each class's misses went\n(diagonal, grey: records of the class labelled correctly)",
                 fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class's records")
    fig.tight_layout()
    return fig
