"""`scriba bench --serve` at CI size: a real server process on CPU, driven at two concurrency levels."""

from __future__ import annotations


def test_serve_bench_reports_rates_first_byte_times_and_the_loop(tmp_path):
    from engine.serve.bench import format_serve_report, run_serve_bench

    report = run_serve_bench(device="cpu", levels=(1, 3), new_bytes=8, prompt_bytes=64, log_path=tmp_path / "log")
    assert [r["streams"] for r in report["levels"]] == [1, 3]
    for r in report["levels"]:
        assert r["errors"] == 0 and r["bytes"] == 8 * r["streams"]
        assert r["bytes_per_s"] > 0 and 0 < r["ttfb_p50_s"] <= r["ttfb_p99_s"]
    assert report["levels"][0]["vs_one_stream"] == 1.0
    loop = report["decoder"]
    assert loop["steps"] >= 8 and loop["prefill_passes"] >= 1 and "eager" in loop["path"]
    text = format_serve_report(report)
    assert "TTFB p99" in text and "decode loop: eager" in text and "steps between two blocks" in text
