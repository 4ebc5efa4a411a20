"""A sweep's results: its storage, its trials as rows and a table, the best trial's command, trials.csv, best.json."""

from __future__ import annotations

import csv
import html
import json
from pathlib import Path

from ..diskio import replacing

JOURNAL = "study.journal"


def storage_of(out: Path, url: str = ""):
    """The study's storage: the journal file in `out`, a journal file elsewhere, or a database URL."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if url and "://" in url:  # a database: postgresql://, mysql://, sqlite:///
        return url
    path = Path(url) if url else out / JOURNAL  # a journal file, here or on storage every worker sees
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def sweep_trials(out: str | Path, storage: str = "", *, study: str = "") -> list[dict]:
    """The sweep's trials as rows: number, state, each searched setting, fid, minutes, run folder, note."""
    trials = load_study(out, storage, study=study).get_trials(deepcopy=False)
    continued = {t.user_attrs.get("retry_of"): t.number for t in trials if "retry_of" in t.user_attrs}
    rows = []
    for t in trials:
        note = (f"continued as trial {continued[t.number]}" if t.number in continued else
                t.user_attrs.get("error", "") or ("its worker was lost" if t.user_attrs.get("lost") else ""))
        rows.append({"trial": t.number, "state": t.state.name.lower(), **t.params,
                     "fid": round(t.value, 3) if t.value is not None else None,
                     "minutes": t.user_attrs.get("minutes"), "run": t.user_attrs.get("run", ""), "note": note})
    return rows


def load_study(out: str | Path, storage: str = "", *, study: str = ""):
    """The sweep's Optuna study, for its plots (optuna.visualization) and anything else Optuna does."""
    import optuna

    out = Path(out)
    name = study or json.loads((out / "spec.json").read_text()).get("study") or out.resolve().name
    return optuna.load_study(study_name=name, storage=storage_of(out, storage))


def format_trials(rows: list[dict]) -> str:
    """The trials as an aligned text table."""
    if not rows:
        return "no trials yet"
    keys = [k for k in rows[0] if k != "run"] + ["run"]
    for row in rows:
        keys += [k for k in row if k not in keys]
    cells = [keys] + [["" if r.get(k) is None else f"{r[k]:g}" if isinstance(r.get(k), float) else str(r[k])
                       for k in keys] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(keys))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def write_results(rows: list[dict], study, out: Path) -> None:
    """trials.csv, and best.json: the best trial's FID, its `dcgan train` command and its config.json."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with replacing(out / "trials.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, keys)
        writer.writeheader()
        writer.writerows(rows)
    print(format_trials(rows))
    done = [t for t in study.get_trials(deepcopy=False) if t.value is not None and t.state.name == "COMPLETE"]
    if not done:
        return
    best = min(done, key=lambda t: t.value)
    record = {"trial": best.number, "fid": best.value, "metric": best.user_attrs.get("metric"),
              "command": best.user_attrs.get("command"), "config": str(Path(best.user_attrs["run"]) / "config.json")}
    (out / "best.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"best: trial {best.number}, {record['metric']} {best.value:.3f}\n  {record['command']}\n"
          f"  its settings: {record['config']}")


def trials_html(rows: list[dict]) -> str:
    """The trials as an HTML table, the best FID in bold (a notebook displays it)."""
    if not rows:
        return "<p>no trials yet</p>"
    keys = list(dict.fromkeys(k for r in rows for k in r))
    best = min((r["fid"] for r in rows if r.get("fid") is not None), default=None)

    def cell(row, k):
        v = row.get(k)
        text = "" if v is None else f"{v:g}" if isinstance(v, float) else str(v)
        return f"<td><b>{html.escape(text)}</b></td>" if k == "fid" and v == best else f"<td>{html.escape(text)}</td>"

    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join("<tr>" + "".join(cell(r, k) for k in keys) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"
