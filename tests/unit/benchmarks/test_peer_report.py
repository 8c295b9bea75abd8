"""The comparison's data shaping: median rounds, plot series, the summary table, README markers."""

import math

import peer_report
import report
from peer_report import PeerReport, Target
from procfs import ProcessMemory

TARGETS = [
    Target("modelrt batched", "modelrt", "predict", "mlp-batched"),
    Target("MLServer batched", "mlserver", "oip", "mlp"),
    Target("TorchServe batched", "torchserve", "torchserve", "mlp"),
]


def _row(target: str, c: int, rps: float, round: int) -> report.LoadRow:
    return report.LoadRow(
        target=target, concurrency=c, requests=100, errors=0, first_error="", rps=rps,
        p50_ms=1000 / rps, p99_ms=2000 / rps, server_cpu_us=0, worker_cpu_us=0,
        client_cpu_us=0, round=round,
    )  # fmt: skip


def _peer() -> PeerReport:
    rows = [
        _row("modelrt batched", 1, 100, 0),
        _row("modelrt batched", 1, 300, 1),
        _row("modelrt batched", 1, 200, 2),
        _row("modelrt batched", 64, 4000, 0),
        _row("MLServer batched", 1, 50, 0),  # no c=64 row: it failed there
    ]
    return PeerReport(
        command="peers.py",
        settings=[],
        targets=TARGETS,
        load=report.Report(command="", settings=[], rows=rows),
        memory={"modelrt": [ProcessMemory(1, "server", 100 * 1024, 0),
                            ProcessMemory(2, "worker", 50 * 1024, 0)]},
        skipped={"torchserve": "java is not on PATH"},
    )  # fmt: skip


def test_plot_data_has_one_value_per_level_from_the_median_round() -> None:
    data = peer_report.plot_data(_peer())
    assert data["levels"] == [1, 64]
    by_label = {system["label"]: system for system in data["systems"]}
    assert list(by_label) == ["modelrt batched", "MLServer batched"]  # torchserve: no rows
    assert by_label["modelrt batched"]["rps"] == [200, 4000]
    assert by_label["modelrt batched"]["p50_ms"] == [5.0, 0.25]
    assert by_label["MLServer batched"]["rps"][0] == 50
    assert math.isnan(by_label["MLServer batched"]["rps"][1])


def test_summary_table_shows_each_measured_system_with_its_idle_rss() -> None:
    table = peer_report.summary_table(_peer())
    assert table[0] == "| system | c=1 req/s (p50 / p99) | c=64 req/s (p50 / p99) | idle RSS MiB |"
    assert table[2] == "| modelrt batched | 200 (5.00 / 10.00 ms) | 4,000 (0.25 / 0.50 ms) | 150 |"
    assert table[3] == "| MLServer batched | 50 (20.00 / 40.00 ms) | - | - |"
    assert len(table) == 4


def test_skipped_systems_are_named_with_the_reason() -> None:
    assert peer_report.skipped_lines(_peer()) == [
        "- **torchserve not measured**: java is not on PATH"
    ]


def test_readme_section_references_both_plots_inside_its_markers() -> None:
    section = peer_report.readme_section(_peer())
    assert section.startswith(peer_report.README_START)
    assert section.endswith(peer_report.README_END)
    for path in peer_report.PLOTS:
        assert f"]({path})" in section


def test_replace_between_swaps_the_marked_section_only() -> None:
    text = "intro\n<!-- a -->old\n<!-- b -->\nrest"
    new = peer_report.replace_between(text, "<!-- a -->", "<!-- b -->", "NEW")
    assert new == "intro\nNEW\nrest"
    assert peer_report.replace_between("no markers", "<!-- a -->", "<!-- b -->", "NEW") is None


def test_plot_data_marks_the_echo_server_as_a_reference_not_a_system() -> None:
    peer = _peer()
    peer.targets = [Target("echo", "echo", "echo", "identity"), *TARGETS]
    peer.load.rows.append(_row("echo", 1, 1000, 0))
    references = {s["label"]: s["reference"] for s in peer_report.plot_data(peer)["systems"]}
    assert references == {"echo": True, "modelrt batched": False, "MLServer batched": False}
