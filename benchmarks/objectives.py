"""FID of each objective and stabiliser after the same training budget: the table behind the default.

    python benchmarks/objectives.py                       # every variant, the default run's budget
    python benchmarks/objectives.py --epochs 1 --only classic,ema,hinge-sn
    python benchmarks/objectives.py --table               # print the table of what is done

Each variant trains on Fashion-MNIST 32x32 (ngf = ndf = 64, batch 128, seed 999) for --epochs
passes over the data (default 3: the foundation's default run, 1404 batches). The budget is data,
not G updates: with --d-steps k an iteration takes k batches, so it makes 1/k as many G updates.
Then the run is scored by
`dcgan evaluate` with the Fashion-MNIST classifier's features on --n samples. Results are
appended to OUT/results.csv as each variant finishes, so an interrupted sweep picks up where
it stopped; runs stay in OUT/<variant>/ to look at.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dcgan.config import Config  # noqa: E402

# name -> settings on top of the classic recipe; the order is the order of the sweep
VARIANTS = {
    "classic": {},
    "ema": {"ema_decay": 0.999},
    "spectral-norm": {"spectral_norm": True},
    "label-smoothing": {"label_smoothing": 0.1},
    "instance-noise": {"instance_noise": 0.1},
    "diffaug": {"diffaug": "translation,cutout"},
    "ttur": {"lr_d": 4e-4, "lr_g": 1e-4},
    "r1": {"r1_weight": 0.1},
    "minibatch-std": {"minibatch_std": True},
    "feature-matching": {"feature_matching": True},
    "label-flip": {"label_flip": 0.05},
    "grad-clip": {"grad_clip": 10.0},
    "d-steps-2": {"d_steps": 2},
    "hinge": {"loss": "hinge"},
    "lsgan": {"loss": "lsgan"},
    "minimax": {"loss": "minimax"},
    "wgan": {"loss": "wgan"},
    "wgan-gp": {"loss": "wgan-gp"},
    "hinge-sn": {"loss": "hinge", "spectral_norm": True},
    "ema-sn": {"ema_decay": 0.999, "spectral_norm": True},
}


def run_variant(name: str, settings: dict, args) -> dict:
    from dcgan.evaluate import evaluate_checkpoint
    from dcgan.runtime import resolve_device
    from dcgan.train import train

    out = Path(args.out) / name
    cfg = Config.from_flat(recipe="classic", dataset="fashion-mnist", data_root=args.data_root,
                           epochs=args.epochs, out=str(out), snapshot_every=100, checkpoint_every=500,
                           progress=args.progress, precision=args.precision, **settings)
    start = time.perf_counter()
    history = train(cfg)
    minutes = (time.perf_counter() - start) / 60
    result = evaluate_checkpoint(out, n=args.n, device=resolve_device("auto"))
    m = result["metrics"]
    return {"variant": name, "settings": json.dumps(settings), "epochs": args.epochs,
            "iterations": len(history["iteration"]),
            "fid": round(m["fid_fmnist_cnn"], 3), "kid": round(m["kid_fmnist_cnn"], 3),
            "precision": round(m["precision_fmnist_cnn"], 3), "recall": round(m["recall_fmnist_cnn"], 3),
            "final_loss_d": round(history["loss_d"][-1], 4), "train_minutes": round(minutes, 2),
            "generator": result["generator"]}


def print_table(path: Path) -> None:
    rows = list(csv.DictReader(open(path))) if path.is_file() else []
    if not rows:
        print("no results yet")
        return
    base = {r["epochs"]: float(r["fid"]) for r in rows if r["variant"] == "classic"}
    print("| variant | settings | epochs | G updates | FID (fmnist_cnn) | vs classic | precision | recall | "
          "train min |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: float(r["fid"])):
        ratio = f"{float(r['fid']) / base[r['epochs']]:.2f}x" if r["epochs"] in base else ""
        print(f"| {r['variant']} | `{r['settings']}` | {r['epochs']} | {r['iterations']} | {float(r['fid']):.2f} | {ratio} | "
              f"{r['precision']} | {r['recall']} | {r['train_minutes']} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="passes over the data per variant (default: 3)")
    parser.add_argument("--n", type=int, default=10000, help="samples for FID (default: 10000)")
    parser.add_argument("--only", default="", help="comma-separated variants (default: all)")
    parser.add_argument("--out", default="outputs/objectives", help="(default: outputs/objectives)")
    parser.add_argument("--data-root", default="data", help="(default: data)")
    parser.add_argument("--precision", default="fp32", help="fp32 (the recorded table's) or bf16/auto "
                        "(faster; compare only rows of one precision) (default: fp32)")
    parser.add_argument("--table", action="store_true", help="only print the table of finished variants")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    results = Path(args.out) / "results.csv"
    if args.table:
        print_table(results)
        return 0
    names = [n for n in args.only.split(",") if n] or list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    done = {(r["variant"], r["epochs"]) for r in csv.DictReader(open(results))} if results.is_file() else set()
    for name in names:
        if (name, str(args.epochs)) in done:
            print(f"{name}: done already, skipping")
            continue
        row = run_variant(name, VARIANTS[name], args)
        new = not results.is_file()
        results.parent.mkdir(parents=True, exist_ok=True)
        with open(results, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
        print(f"{name}: FID {row['fid']:.2f} after {args.epochs} epochs ({row['train_minutes']} min)")
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
