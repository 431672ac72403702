"""OUTPUT/pareto.png: every scored candidate's estimated accuracy against its measured latency, the Pareto
front, the budget line, the winner (estimated and final) and any compared artefacts (same timing pass)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def x_key(data: dict[str, Any]) -> str:
    """Latency at the budget's batch size (batch 1 if the budget is size only)."""
    keys = [k for k in data["budget"] if k.startswith("latency_")]
    return keys[0] if keys else "latency_b1_ms"


def front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points no other point beats on both axes (lower latency, higher accuracy), by latency."""
    best, out = float("-inf"), []
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if y > best:
            out.append((x, y))
            best = y
    return out


def pareto(data: dict[str, Any], path: Path) -> Path:
    from matplotlib.figure import Figure

    key = x_key(data)
    fig = Figure(figsize=(8, 5.5))
    ax = fig.add_subplot()
    scored = [c for c in data["candidates"].values() if c.get("estimated_accuracy") is not None and c.get("measured")]
    by_rung: dict[int, list[tuple[float, float]]] = {}
    for c in scored:
        rung = max(int(r) for r in c["rungs"])
        figures = c.get("confirmed") or c["measured"]
        by_rung.setdefault(rung, []).append((figures[key], c["estimated_accuracy"]))
    for rung, pts in sorted(by_rung.items()):
        steps = max(c["steps_spent"] for c in scored if max(int(r) for r in c["rungs"]) == rung)
        ax.scatter(*zip(*pts), s=18 + 10 * rung, alpha=0.7, label=f"estimated, rung {rung} ({steps} steps)")
    pts = front([p for ps in by_rung.values() for p in ps])
    if pts:
        ax.step(*zip(*pts), where="post", color="grey", lw=1, label="Pareto front (estimates)")
    compared = [dict(m) for m in (data.get("comparison") or {}).get("models") or []]
    same_pass = ((data.get("winner") or {}).get("same_pass_as_reference") or {}).get(key)
    anchored = same_pass is not None and same_pass.get("winner_speedup") and key in data["budget"]
    if anchored:
        # One scale for every point: the budget is the reference's first measured figure, and candidates were
        # read by their paired ratio to it; the winner's pass is put on that scale the same way.
        scale = data["budget"][key] / same_pass["reference"]
        for m in compared:
            if m.get(key) is not None:
                m[key] = m[key] * scale
        compared[0][key] = data["budget"][key] / same_pass["winner_speedup"]
        ax.axvline(data["budget"][key], color="red", ls="--", label=f"budget {key}: the reference artefact")
    elif same_pass is not None:  # a budget taken from an artefact: drawn where that artefact timed with the winner
        ax.axvline(same_pass["reference"], color="red", ls="--", label=f"budget {key}: the reference, same pass")
    elif key in data["budget"]:
        ax.axvline(data["budget"][key], color="red", ls="--", label=f"budget {key}={data['budget'][key]:g}")
    final = dict((data.get("winner") or {}).get("final") or {})
    if compared and compared[0].get(key) is not None:  # winner and references from one timing pass
        final[key] = compared[0][key]
    if final.get("accuracy") is not None and final.get(key) is not None:
        ax.scatter(
            [final[key]],
            [final["accuracy"]],
            marker="*",
            s=260,
            color="gold",
            edgecolor="black",
            zorder=5,
            label=f"winner, full distillation ({final['accuracy']:.4f})",
        )
    for ref in compared[1:]:
        if ref.get(key) is not None and ref.get("accuracy") is not None:
            ax.scatter([ref[key]], [ref["accuracy"]], marker="D", s=60, color="black", zorder=5)
            ax.annotate(
                f"{ref['name']} ({ref['accuracy']:.4f})",
                (ref[key], ref["accuracy"]),
                fontsize=8,
                xytext=(4, -10),
                textcoords="offset points",
            )
    if anchored:
        where = "the reference's figure / each model's paired speed-up over it, measured"
    else:
        where = "measured; candidates: their confirmation pass" + (
            "; winner and compared: one pass" if compared else ""
        )
    ax.set_xlabel(f"{key} (CPU; {where})")
    ax.set_ylabel("accuracy (selection slice: estimates; eval split: final)")
    ax.set_xlim(0, ax.get_xlim()[1] * 1.25)  # room for the compared artefacts' labels, right of their points
    ax.set_title("budget search: accuracy vs latency")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
