"""The `dcgan` command line: train, export, sample, animate, runs, train-classifier, evaluate, sweep."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import sys
from pathlib import Path

from .settings.config import SECTION_OF, Config, ConfigError, flag, flat_fields, flat_settings
from .settings.recipes import DEFAULT_RECIPE, RECIPES


ALIASES = {"d_steps": ["--n-critic"]}


# a setting's group: its section's, or "output" for those that only say where the run lives, what it
# writes and how it is watched (their role, config.ROLES)
GROUPS = {"model": "model: the generator and discriminator", "data": "data: what to train on",
          "train": "training: length, rates and accelerators",
          "objective": "objective: the loss and its stabilisers",
          "output": "output: where it runs, what it writes and when, how it is watched "
                    "(never what is trained)"}


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    classic, recipe = flat_settings(Config.from_flat(recipe="classic").to_dict()), flat_settings(Config().to_dict())
    groups = {key: parser.add_argument_group(title) for key, title in GROUPS.items()}
    for name, f in flat_fields().items():
        group = groups["output" if f.metadata["role"] in ("write", "watch") else SECTION_OF[name]]
        flags = [flag(name), *ALIASES.get(name, [])]
        default = f.default  # the type comes from the dataclass default
        shown = f"{recipe[name]!r}"
        if recipe[name] != classic[name]:  # say where a default comes from when the recipe changes it
            shown += f" in the {DEFAULT_RECIPE} recipe, {classic[name]!r} in classic"
        own = RECIPES[DEFAULT_RECIPE]
        if name in own.conditional:
            shown += f"; {own.conditional[name]!r} in its conditional runs"
        if name in own.on_gpu:
            shown += f"; {own.on_gpu[name]!r} in {DEFAULT_RECIPE} on a CUDA GPU"
        help_text = f"{f.metadata['help']} (default: {shown})"
        # SUPPRESS: only flags the user typed appear, so --resume can keep the checkpoint's own
        if isinstance(default, bool):
            group.add_argument(*flags, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=help_text)
        elif f.metadata["choices"]:
            group.add_argument(*flags, dest=name, choices=f.metadata["choices"], type=type(default),
                               default=argparse.SUPPRESS, help=help_text)
        else:
            group.add_argument(*flags, dest=name, type=type(default), default=argparse.SUPPRESS,
                               metavar=name.upper(), help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dcgan", description="Train and sample DCGANs.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_sharing(sub)
    _add_scoring(sub)
    _add_sweep(sub)
    return parser


def _add_train(sub) -> None:
    """dcgan train: every setting's flag, --recipe, --resume, --config."""
    p_train = sub.add_parser("train", help="train a DCGAN", description="Train a DCGAN; outputs go "
                             "to the run folder (config.json, history.csv, samples/, loss.png, "
                             "progress.html, real_vs_fake.png, checkpoints/last.pt).")
    _add_config_flags(p_train)
    p_train.add_argument("--recipe", default=argparse.SUPPRESS, metavar="RECIPE",
                         help=f"preset for the settings not given: {', '.join(RECIPES)} "
                              f"(default: {DEFAULT_RECIPE!r}; classic is Radford et al.'s plain DCGAN); "
                              "'list' prints every recipe and where each of its settings comes from")
    p_train.set_defaults(run=_train)
    p_train.add_argument("--resume", metavar="RUN_OR_CKPT", default=None,
                         help="continue a run from its folder or a checkpoint file; settings not "
                              "given on the command line come from the checkpoint (default: None)")
    p_train.add_argument("--config", metavar="CONFIG_JSON", default=None,
                         help="start a new run from another run's settings (RUN/config.json, or the RUN "
                              "folder); flags given beside it win (default: None)")


def _add_sharing(sub) -> None:
    """dcgan export, sample, animate and runs: what a trained run gives to others."""
    p_export = sub.add_parser("export", help="a run's generator as one .safetensors file to share",
                              description="Write G's weights (the EMA's where the run kept them) with the "
                              "settings that rebuild it, in safetensors: load it with dcgan.load_generator(FILE) "
                              "or sample it with `dcgan sample FILE`.")
    p_export.set_defaults(run=_export)
    p_export.add_argument("checkpoint", metavar="RUN", help="a run folder or a checkpoint file")
    p_export.add_argument("--out", default="G.safetensors", help="the file to write (default: G.safetensors)")
    p_export.add_argument("--no-ema", action="store_true",
                          help="export the trained G even when the run kept an EMA generator")

    p_sample = sub.add_parser("sample", help="sample images from a checkpoint")
    p_sample.set_defaults(run=_sample)
    p_sample.add_argument("checkpoint", help="a checkpoint file or a run folder")
    p_sample.add_argument("--n", type=int, default=64, help="number of images (default: 64)")
    p_sample.add_argument("--out", default="samples.png",
                          help="a .png file for one grid, or a folder (ending in /, or existing) for "
                               "one PNG per image (default: samples.png)")
    p_sample.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    p_sample.add_argument("--nrow", type=int, default=8, help="images per grid row (default: 8)")
    p_sample.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    p_sample.add_argument("--class", dest="class_", default=None, metavar="CLASS",
                          help="class-conditional models: the class, by index or name")
    p_sample.add_argument("--per-class", type=int, default=0, metavar="K",
                          help="class-conditional models: a grid with K samples per class, one labelled "
                               "row per class")
    p_sample.add_argument("--attrs", default=None, metavar="TAG,TAG",
                          help="attribute-conditional models: the tags to switch on (the rest are off)")
    p_sample.add_argument("--no-ema", action="store_true",
                          help="sample the trained G even when the run kept an EMA generator")
    p_sample.add_argument("--train-mode", action="store_true",
                          help="sample with BatchNorm in training mode (batch statistics)")
    p_sample.add_argument("--walk", type=int, default=0, metavar="K",
                          help="a looping latent walk through K random points (slerp), 16 walks side by side, "
                               "written to --out as .gif, .webp or .mp4; class-conditional models then walk "
                               "across their classes with z fixed")

    p_anim = sub.add_parser("animate", help="a run's snapshots as a GIF, WebP or MP4 to share")
    p_anim.set_defaults(run=_animate)
    p_anim.add_argument("run_dir", metavar="RUN", help="a run folder (its samples/ hold the snapshots)")
    p_anim.add_argument("--out", default="progress.gif", help=".gif or .webp (Pillow), or .mp4 where ffmpeg or "
                                                              "imageio-ffmpeg is installed (default: progress.gif)")
    p_anim.add_argument("--frame-ms", type=int, default=500, help="milliseconds per frame (default: 500)")
    p_anim.add_argument("--max-frames", type=int, default=60,
                        help="at most this many snapshots: the first, the last and evenly spaced ones (default: 60)")
    p_runs = sub.add_parser("runs", help="one line per run folder: progress, status, best FID, differences")
    p_runs.set_defaults(run=_runs)
    p_runs.add_argument("root", nargs="?", default="outputs", help="where to look (default: outputs)")


def _add_scoring(sub) -> None:
    """dcgan train-classifier and evaluate: scoring generators."""
    p_cls = sub.add_parser("train-classifier", help="train the domain classifier used for offline metrics")
    p_cls.set_defaults(run=_train_classifier)
    # the data settings' declarations and train_classifier's own defaults, as the functions have them
    from .evaluation.features import train_classifier

    fields, own = flat_fields(), inspect.signature(train_classifier).parameters
    for name in ("dataset", "data_root", "image_size", "channels"):
        f = fields[name]
        p_cls.add_argument(flag(name), type=type(f.default), default=f.default, choices=f.metadata["choices"],
                           help=f"{f.metadata['help']} (default: {f.default!r})")
    for name in ("epochs", "batch_size", "seed"):
        p_cls.add_argument(flag(name), type=int, default=own[name].default, help=f"(default: {own[name].default})")
    p_cls.add_argument("--device", default=own["device"].default, help=f"(default: {own['device'].default})")
    p_cls.add_argument("--out", default=None,
                       help="where to save it (default: DATA_ROOT/classifiers/<dataset>-<size>px-<ch>ch.pt)")

    p_eval = sub.add_parser("evaluate", help="FID, KID, precision/recall and class metrics of a checkpoint")
    p_eval.set_defaults(run=_evaluate)
    p_eval.add_argument("checkpoint", help="a checkpoint file or a run folder")
    p_eval.add_argument("--n", type=int, default=10000, help="generated images (default: 10000)")
    p_eval.add_argument("--real-n", type=int, default=None, metavar="N",
                        help="real images to compare with: 0 for the whole split, as published FIDs use with "
                             "--n 50000 (default: as many as --n)")
    p_eval.add_argument("--features", choices=["classifier", "inception"], default="classifier",
                        help="feature space: the domain classifier's (offline) or standard Inception "
                             "(default: classifier)")
    p_eval.add_argument("--classifier", default=None, help="classifier file (default: the dataset's in "
                                                           "DATA_ROOT/classifiers/, trained first if missing)")
    p_eval.add_argument("--inception-weights", default=None,
                        help="local copy of the FID Inception weights (pt_inception-2015-12-05)")
    p_eval.add_argument("--data-root", default=None, help="override the run's data root")
    p_eval.add_argument("--device", default="auto", help="(default: auto)")
    p_eval.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    p_eval.add_argument("--floor", action="store_true",
                        help="also print the real-vs-real floor: FID between the train and test splits")


def _add_sweep(sub) -> None:
    """dcgan sweep: many runs as one Optuna study."""
    p = sub.add_parser("sweep", help="search settings: many runs as one Optuna study (needs the sweep extra)",
                       description="Train the trials of a sweep spec (YAML or JSON: space, settings, sampler, "
                       "trials, minutes, pruner, features, eval_n) as run folders under --out/trials/, score each "
                       "by its FID, and print the trials and the best one's command. Running it again continues "
                       "the study. docs/sweeps.md has an example.")
    p.set_defaults(run=_sweep)
    p.add_argument("spec", help="the sweep's spec file (.yaml, .yml or .json)")
    p.add_argument("--out", required=True, help="the sweep's folder: its journal, trials/, trials.csv, best.json")
    p.add_argument("--storage", default="", help="a journal file on storage other machines see, or a database URL "
                                                 "(postgresql://...): workers there join with the same --study "
                                                 "(default: OUT/study.journal)")
    p.add_argument("--study", default="", help="the study's name in the storage (default: the spec's, else OUT's name)")
    p.add_argument("--workers", type=int, default=1, help="trials side by side, as processes of their own (default: 1)")
    p.add_argument("--gpus", default="", help="GPUs for the workers, in turn, e.g. 0,1; one GPU shares it "
                                              "(default: every GPU this process sees)")
    p.add_argument("--trials", type=int, default=None, help="the trial budget (default: the spec's)")
    p.add_argument("--minutes", type=float, default=None, help="stop starting trials after this long (default: the "
                                                               "spec's; 0: no limit)")
    p.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)  # a launched worker's index


def _sweep(args: argparse.Namespace) -> int:
    from .extras import require

    require("sweep", "dcgan sweep")
    from .lab.sweep import sweep, work
    from .lab.sweep_spec import read_spec

    spec = read_spec(args.spec)
    given = {"trials": args.trials, "minutes": args.minutes, "study": args.study or None}
    # the budget as given on the command line, checked as the file's is
    spec = dataclasses.replace(spec, **{k: v for k, v in given.items() if v is not None})
    if args.worker is not None:  # launched by a sweep with --workers: its study exists, its spec is checked
        work(spec, Path(args.out), args.storage, worker=args.worker, progress=False)
        return 0
    sweep(spec, args.out, storage=args.storage, workers=args.workers, gpus=args.gpus)
    return 0


def _train_classifier(args: argparse.Namespace) -> int:
    from .evaluation.features import train_classifier
    from .runtime import resolve_device
    from .settings.config import DataConfig

    data = DataConfig(dataset=args.dataset, data_root=args.data_root, image_size=args.image_size,
                      channels=args.channels)
    path, acc = train_classifier(data, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                                 device=resolve_device(args.device), out=args.out)
    print(f"classifier saved to {path}; test accuracy {acc:.4f}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .evaluation.evaluate import evaluate_checkpoint
    from .runtime import resolve_device

    result = evaluate_checkpoint(args.checkpoint, n=args.n, features=args.features,
                                 classifier=args.classifier, inception_weights=args.inception_weights,
                                 data_root=args.data_root, device=resolve_device(args.device), seed=args.seed,
                                 real_n=args.real_n)
    print(f"{result['checkpoint']} (iteration {result['iteration']}), {result['n_samples']} samples vs "
          f"{result['n_real']} real images ({result['real_split']} split)\nfeatures: {result['features']}")
    for key, value in result["metrics"].items():
        print(f"  {key:<36}{value:>12.4f}")
    if args.floor:
        from .checkpoint import load_checkpoint
        from .evaluation.evaluate import make_space, real_vs_real
        from .settings.config import Config

        cfg = Config.from_dict(load_checkpoint(args.checkpoint)["config"])
        if args.data_root:
            cfg.data.data_root = args.data_root
        space = make_space(args.features, cfg.data, _channels(result), classifier=args.classifier,
                           inception_weights=args.inception_weights, device=resolve_device(args.device))
        floor = real_vs_real(cfg.data, space, args.n)
        print(f"  real-vs-real floor (train vs test, {args.n} each): fid_{space.tag} = {floor:.4f}")
    return 0


def _runs(args: argparse.Namespace) -> int:
    from .lab.runs import format_runs, summarise_runs

    if not Path(args.root).is_dir():
        raise ConfigError(f"{args.root} is not a folder; give the folder that holds your runs (default: outputs)")
    print(format_runs(summarise_runs(args.root)))
    return 0


def _animate(args: argparse.Namespace) -> int:
    from .lab.animations import animate_run

    if args.frame_ms <= 0 or args.max_frames < 2:
        raise ConfigError("--frame-ms must be positive and --max-frames at least 2")
    out = animate_run(args.run_dir, args.out, frame_ms=args.frame_ms, max_frames=args.max_frames)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .weights import export_generator

    out = export_generator(args.checkpoint, args.out, ema=not args.no_ema)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB): load it with dcgan.load_generator({str(out)!r})")
    return 0


def _settings_of(path: str) -> dict:
    """The flat settings in a run's config.json (or the run folder holding one), for --config."""
    file = Path(path) / "config.json" if Path(path).is_dir() else Path(path)
    if not file.is_file():
        raise ConfigError(f"--config {path}: no such file; give a run's config.json or its folder")
    try:
        sections = Config.from_dict(json.loads(file.read_text())).to_dict()
    except json.JSONDecodeError as e:
        raise ConfigError(f"--config {file} is not JSON ({e}); give a run's config.json") from None
    return flat_settings(sections)


def _channels(result: dict) -> int:
    from .sample import load_generator

    return load_generator(result["checkpoint"]).nc


def _train(args: argparse.Namespace) -> int:
    from .training.loop import train

    given = {k: v for k, v in vars(args).items() if k in flat_fields()}
    recipe = getattr(args, "recipe", DEFAULT_RECIPE)
    if recipe == "list":
        from .settings.config import describe_recipes

        print(describe_recipes())
        return 0
    if args.resume and args.config:
        raise ConfigError("give --resume (continue a run) or --config (a new run from a run's settings), not both")
    if args.config:
        flat = _settings_of(args.config)
        flat.update(given)
        flat["out"] = given.get("out", "")  # a new run: its own folder
        given = flat
    if args.resume:
        from .checkpoint import load_checkpoint

        saved = Config.from_dict(load_checkpoint(args.resume)["config"]).to_dict()  # fills older versions' gaps
        flat = flat_settings(saved)
        flat.update(given)
        flat["out"] = given.get("out", "")  # the run goes on where its checkpoint is, unless --out says
        given = flat
    cfg = Config.from_flat(recipe=recipe, **given)
    train(cfg, resume=args.resume)
    return 0


def _sample(args: argparse.Namespace) -> int:
    import torch

    from .data.conditions import attrs_vector, class_index, one_hot
    from .runtime import resolve_device
    from .sample import generate, load_generator, per_class_grid, write_image_files
    from .viz import save_grid, save_labelled_grid

    if args.n <= 0:
        raise ConfigError(f"--n must be a positive number of images, got {args.n}")
    device = resolve_device(args.device)
    G = load_generator(args.checkpoint, device, eval_mode=not args.train_mode, ema=not args.no_ema)
    asked = [flag for flag, v in (("--class", args.class_), ("--per-class", args.per_class),
                                  ("--attrs", args.attrs)) if v]
    if asked and not G.n_cond:
        raise ConfigError(f"{' and '.join(asked)} need a conditional model; {args.checkpoint} was trained "
                          "without --condition")
    if len(asked) > 1:
        raise ConfigError(f"give one of --class, --per-class, --attrs, not {' and '.join(asked)}")
    if (args.class_ or args.per_class) and G.condition != "class":
        raise ConfigError(f"{asked[0]} is for class-conditional models; this one is conditioned on tags: "
                          f"use --attrs with some of {', '.join(G.cond_names)}")
    if args.attrs and G.condition != "attrs":
        raise ConfigError(f"--attrs is for attribute-conditional models; this one is conditioned on classes: "
                          f"use --class or --per-class ({', '.join(G.cond_names)})")
    if args.walk:
        from .lab.animations import save_walk

        out = save_walk(G, args.walk, args.out, seed=args.seed)
        print(f"wrote a latent walk through {args.walk} points to {out}")
        return 0
    if args.per_class:
        out = Path(args.out)
        images = per_class_grid(G, args.per_class, seed=args.seed)
        save_labelled_grid(images, G.cond_names, out)
        print(f"wrote a grid of {args.per_class} samples for each of {G.n_cond} classes to {out}")
        return 0
    cond = None
    if args.class_ is not None:
        cond = one_hot(torch.tensor(class_index(args.class_, G.cond_names)), G.n_cond)
    elif args.attrs is not None:
        cond = attrs_vector(args.attrs, G.cond_names)
    images = generate(G, args.n, seed=args.seed, cond=cond)
    out = Path(args.out)
    if args.out.endswith(("/", "\\")) or out.is_dir() or not out.suffix:
        write_image_files(images, out)
        print(f"wrote {args.n} PNG files to {out}/")
    else:
        save_grid(images, out, nrow=args.nrow)
        print(f"wrote a grid of {args.n} samples to {out}")
    return 0


def _leave(code: int) -> int:
    """The command's exit code; under torchrun, the worker leaves at once with it.

    The process group is down by now (train's finally). A worker that went on to the interpreter's
    finalisation could still free a gloo work object after gloo's threads were gone, which aborts it
    (SIGABRT, "terminate called without an active exception"); and torchrun,
    seeing the first worker end with an error, sends the others SIGTERM, which killed a worker still on
    its way out. So: no finalisation, and SIGTERM ignored for the few milliseconds it takes, so every
    worker ends with its own code (benchmarks/ddp_exits.py repeats this)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import signal

        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def main(argv: list[str] | None = None) -> int:
    from .checkpoint import CheckpointError
    from .data.conditions import ConditionError
    from .data.sources import DatasetNotFound
    from .diskio import EXIT_WRITE_FAILED, WRITE_ERRNOS, WriteFailed, failure
    from .evaluation.features import InceptionUnavailable
    from .extras import MissingExtra
    from .training.distributed import PeerFailed
    from .training.divergence import TrainingDiverged

    args = build_parser().parse_args(argv)
    try:
        return _leave(args.run(args))
    except WriteFailed as e:  # a full disk, a size limit, a read-only or vanished folder: exit 3
        if os.environ.get("RANK", "0") == "0":
            print(f"dcgan {args.command}: error: {e}", file=sys.stderr)
        return _leave(EXIT_WRITE_FAILED)
    except PeerFailed as e:  # torchrun: rank 0 failed and said why; this worker leaves quietly
        return _leave(e.code)
    except TrainingDiverged as e:
        # every rank under torchrun raises it together (they decide together): one of them says so
        if os.environ.get("RANK", "0") == "0":
            print(f"dcgan {args.command}: error: {e}", file=sys.stderr)
        return _leave(2)
    except (ConfigError, ConditionError, DatasetNotFound, CheckpointError, InceptionUnavailable, MissingExtra,
            FileNotFoundError, ValueError) as e:
        # Errors a person can act on: the message, not a traceback
        print(f"dcgan {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        if e.errno not in WRITE_ERRNOS:
            raise
        # an output of sample, animate, evaluate or train-classifier: the file it names, or the one asked for
        path = Path(e.filename or getattr(args, "out", None) or ".")
        print(f"dcgan {args.command}: error: {failure('the output', path, e)}", file=sys.stderr)
        return EXIT_WRITE_FAILED
