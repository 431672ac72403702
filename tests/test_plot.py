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


def test_metric_axis_keeps_differences_in_proportion():
    from trimformer.plot import METRIC_SPAN, y_limits

    bottom, top = y_limits("accuracy", [0.7900, 0.7908], 0.7900)
    assert top - bottom >= METRIC_SPAN  # a 0.08-point gap is a sliver, not the whole axis
    assert (0.7908 - 0.7900) / (top - bottom) < 0.05
    assert y_limits("perplexity", [12.0, 14.0], 12.0)[0] == 0.0


def test_latency_panel_uses_one_device_and_notes_noise(tmp_path):
    from trimformer.plot import latency_axis

    report = {
        "main_metric": "accuracy",
        "models": [
            {**_model("teacher", "teacher", 0.7900, 86.6), "eval_examples": 1281},
            {**_model("distill", "stage", 0.7908, 43.3), "eval_examples": 1281},
        ],
    }
    report["models"][0]["latency"] = {"cpu": {"threads": 2, "batches": {"b32": {"median_ms": 290.0}}}}
    report["models"][1]["latency"] = {
        "cpu": {"skipped": "bitsandbytes layers"},
        "cuda": {"threads": 2, "batches": {"b32": {"median_ms": 5.4}}},
    }
    assert latency_axis(report) == ("cpu", "b32")
    result = plot_tradeoffs(report, tmp_path / "p.png")
    assert result.latency_points == 1  # the CUDA figure is never drawn against CPU ones
