"""The evaluation report: text and Markdown tables, the chart and the output files of ``eval/scoring/run.py``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.scoring import qasets

ALL = "all"
SPLIT_CHOICES = (ALL, qasets.TUNE, qasets.HELDOUT)
"""The splits a report covers: all questions, then the tune and held-out halves."""
CHART_METRICS = ("recall@5", "decision_accuracy", "answerable_accuracy", "phrase_f1", "abstention_f1", "answered_rate")
CALIBRATION_DEFINITION = (
    "correct = abstained on an unanswerable question, or answered an answerable one correctly; "
    "confidence = ans.confidence when answered, 1 - ans.confidence when abstained"
)

TABLE_COLUMNS = (
    ("system", None), ("n", None), ("R@1", "recall@1"), ("R@3", "recall@3"), ("R@5", "recall@5"), ("R@read", "recall@read"),
    ("MRR", "mrr"), ("dec", "decision_accuracy"), ("ansAcc", "answerable_accuracy"), ("ansPrec", "answered_precision"),
    ("EM", "phrase_em"), ("F1", "phrase_f1"), ("cite=", "citation_exact"), ("absP", "abstention_precision"),
    ("absR", "abstention_recall"), ("absF1", "abstention_f1"), ("answered", "answered_rate"), ("ECE", "ece"),
    ("p50ms", "p50_ms"), ("p95ms", "p95_ms"),
)


TIER_COLUMNS = (
    ("system", None), ("n", None), ("answered prec", "tier_precision"), ("right as answered", "right_answered"),
    ("right as answered or unconfirmed", "right_shown"), ("unanswerable kept out of answered", "unanswerable_kept_out"),
    ("answered", "answered_share"), ("unconfirmed", "unconfirmed_share"), ("declined", "declined_share"),
)
"""The tiers table (docs/evaluation.md, "Answered, not confirmed, declined")."""
TIERS = (("answered, right", "#2e7d32"), ("answered, wrong", "#c62828"), ("unconfirmed", "#9e9e9e"), ("declined", "#e0e0e0"))


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def system_rows(systems: dict, columns: Sequence[tuple[str, str | None]] = TABLE_COLUMNS) -> list[list[str]]:
    rows = []
    for name, row in systems.items():
        if columns is TIER_COLUMNS and row.get("right_shown") is None:
            continue  # the abstention-only baseline has no tiers
        cells = [name, str(row["n"])]
        for _, key in columns[2:]:
            cells.append(fmt(row.get(key), 1 if key.endswith("_ms") else 3))
        rows.append(cells)
    return rows


def _numeric(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return cell == "-"
    return True


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned plain-text table: numeric columns right-aligned, text columns left-aligned."""
    columns = list(zip(header, *rows))
    widths = [max(len(str(c)) for c in col) for col in columns]
    right = [bool(rows) and all(_numeric(str(c)) for c in col[1:]) for col in columns]
    lines = ["  ".join(str(c).rjust(w) if r else str(c).ljust(w) for c, w, r in zip(cells, widths, right)).rstrip()
             for cells in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def esc(cell: str) -> str:
        return str(cell).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in cells) + " |" for cells in rows]
    return "\n".join(lines)


def calibration_rows(table: Sequence[dict]) -> list[list[str]]:
    return [[f"[{b['lo']:.1f}, {b['hi']:.1f})", str(b["n"]), fmt(b["mean_confidence"]), fmt(b["accuracy"])] for b in table]


def failure_rows(items: Sequence[dict], width: int | None = None) -> list[list[str]]:
    def cut(text: str) -> str:
        text = " ".join(text.split())
        return text if width is None or len(text) <= width else text[: width - 1] + "…"

    return [[f["id"], f["kind"], cut(f["question"]), cut(f["expected"]), cut(f["got"]), fmt(f["confidence"])] for f in items]


def split_order(result: dict) -> list[str]:
    return [result["split"], *[s for s in SPLIT_CHOICES if s != result["split"]]]


def format_report(result: dict, table: Any = text_table, width: int | None = 60) -> list[tuple[str, str]]:
    """The report as (heading, body) sections, rendered with ``table``."""
    header = [c for c, _ in TABLE_COLUMNS]
    sections = []
    for split in split_order(result):
        sections.append((f"split: {split}", table(header, system_rows(result["by_split"][split]))))
        sections.append((f"tiers: {split}", table([c for c, _ in TIER_COLUMNS], system_rows(result["by_split"][split], TIER_COLUMNS))))
    cal = result["calibration"]
    for name, summary in cal["systems"].items():
        body = table(["confidence", "n", "mean conf", "accuracy"], calibration_rows(summary["table"]))
        sections.append((f"calibration: {name} ({cal['split']}), ECE {summary['ece']:.3f}", body))
        rc = [[f"{r['coverage']:.1f}", str(r["n"]), fmt(r["accuracy"]), fmt(r["min_confidence"])] for r in summary["risk_coverage"]]
        sections.append((f"risk-coverage: {name} ({cal['split']})", table(["coverage", "n", "accuracy", "min conf"], rc)))
    base = result["threshold_baseline"]
    sections.append(("threshold baseline", f"abstain when {base['score']} < {fmt(base['threshold'], 4)} "
                     f"(fitted on tune, F1 {fmt(base['tune_f1'])})"))
    fail_header = ["id", "kind", "question", "expected", "got", "conf"]
    sections.append((f"worst failures: {result.get('failures_system', 'hybrid')} ({result['split']})",
                     table(fail_header, failure_rows(result["failures"], width)) if result["failures"] else "none"))
    return sections


def headline(result: dict) -> str:
    return (f"dataset {result['dataset']}: {result['n']} questions ({result['split']}) of {result['n_total']}, "
            f"{result['documents']} documents, {result['passages']} passages, top_k {result['top_k']}, read depth {result.get('read_depth')}, "
            f"judge {result['judge']}, wall {result['wall_s']:.1f} s")


def render_text(result: dict) -> str:
    parts = [headline(result)]
    parts += [f"\n== {title}\n{body}" for title, body in format_report(result)]
    return "\n".join(parts)


def render_markdown(result: dict) -> str:
    parts = [f"# Evaluation: {result['dataset']}", "", headline(result), "",
             "Columns: recall@k / MRR of gold evidence in the top 5 passages; acc = answer accuracy over "
             "answerable questions; cite= = exact citations; abs P/R/F1 with positive = unanswerable; "
             "answered = answerable questions not abstained; latency of ask() in ms.", "",
             f"Calibration: {CALIBRATION_DEFINITION}."]
    parts += [f"\n## {title}\n\n{body}" for title, body in format_report(result, md_table, None)]
    return "\n".join(parts) + "\n"


def write_chart(result: dict, path: Path) -> None:
    """Grouped bars: each metric, one bar per system (plus latency in a second panel)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = result["systems"]
    names = list(systems)
    fig, (ax, ax_tiers, ax_lat) = plt.subplots(1, 3, figsize=(16, 4.5), gridspec_kw={"width_ratios": [4, 1.6, 1]})
    tier_chart(ax_tiers, systems)
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        xs = [j + (i - (len(names) - 1) / 2) * width for j, key in enumerate(CHART_METRICS) if systems[name].get(key) is not None]
        ys = [systems[name][key] for key in CHART_METRICS if systems[name].get(key) is not None]
        ax.bar(xs, ys, width, label=name)
        lat = [systems[name].get("p50_ms"), systems[name].get("p95_ms")]
        if lat[0] is not None:
            ax_lat.bar([k + (i - (len(names) - 1) / 2) * width for k in range(2)], lat, width, label=name)
    ax.set_xticks(range(len(CHART_METRICS)), CHART_METRICS, rotation=20)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{result['dataset']} ({result['split']}, n={result['n']})")
    ax.legend()
    ax_lat.set_xticks(range(2), ["p50 ms", "p95 ms"])
    ax_lat.set_title("ask() latency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def tier_shares(row: dict) -> list[float]:
    """Shares of all questions: answered right, answered wrong, unconfirmed, declined (see :data:`TIERS`)."""
    answered = row.get("answered_share") or 0.0
    right = answered * (row.get("tier_precision") or 0.0)
    return [right, answered - right, row.get("unconfirmed_share") or 0.0, row.get("declined_share") or 0.0]


def tier_chart(ax: Any, systems: dict) -> None:
    """Stacked bars of the three tiers (answered split into right and wrong), one bar per system."""
    names = [n for n in systems if systems[n].get("answered_share") is not None]
    bottoms = [0.0] * len(names)
    for k, (label, colour) in enumerate(TIERS):
        heights = [tier_shares(systems[n])[k] for n in names]
        ax.bar(range(len(names)), heights, 0.6, bottom=bottoms, label=label, color=colour)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_ylim(0, 1.05)
    ax.set_title("replies by tier (share of questions)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)


def write_outputs(result: dict, json_path: str | Path) -> list[Path]:
    """Write the JSON, and next to it the Markdown report and the PNG chart."""
    json_path = Path(json_path)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path, png_path = json_path.with_suffix(".md"), json_path.with_suffix(".png")
    md_path.write_text(render_markdown(result), encoding="utf-8")
    write_chart(result, png_path)
    return [json_path, md_path, png_path]
