"""Trade-off plot: a valid PNG with one point per measured model in each panel."""

from trimformer.plot import plot_tradeoffs


def _model(name, role, acc, size, b32=None):
    return {
        "name": name,
        "role": role,
        "metrics": {"accuracy": acc},
        "size_mb": size,
        "latency_ms": {"b1": 1.0, **({"b32": b32} if b32 else {})},
    }


def test_plot_is_png_with_every_model(tmp_path):
    report = {
        "main_metric": "accuracy",
        "environment": {"device": "cpu"},
        "models": [
            _model("teacher", "teacher", 0.81, 86.6, 120.0),
            _model("distill", "stage", 0.79, 43.3, 60.0),
            _model("quantize", "stage", 0.78, 12.0),  # latency not measured: only in the size panel
        ],
    }
    result = plot_tradeoffs(report, tmp_path / "sub" / "tradeoff.png")
    assert (result.size_points, result.latency_points) == (3, 2)
    data = result.path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"

    import matplotlib.image

    image = matplotlib.image.imread(result.path)
    assert image.shape[0] > 100 and image.shape[1] > 200


def test_plot_without_measurements_still_writes(tmp_path):
    result = plot_tradeoffs({"models": []}, tmp_path / "p.png")
    assert (result.size_points, result.latency_points) == (0, 0)
    assert result.path.stat().st_size > 0


def test_plot_is_deterministic(tmp_path):
    # Same report, same bytes: a re-push then skips the unchanged plot.
    report = {"models": [_model("teacher", "teacher", 0.8, 10.0, 5.0)]}
    first = plot_tradeoffs(report, tmp_path / "1.png").path.read_bytes()
    assert first == plot_tradeoffs(report, tmp_path / "2.png").path.read_bytes()
