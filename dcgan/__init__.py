"""dcgan: DCGAN-family image generation as a small, readable PyTorch package.

What a notebook or a script needs is importable from here (`from dcgan import load_generator, generate`);
the submodules hold the rest.
"""

from . import viz
from .checkpoint import CheckpointError, load_checkpoint
from .data.dataset import load_dataset, to_model_range
from .evaluation.evaluate import evaluate_checkpoint, make_space, real_vs_real
from .evaluation.features import ensure_classifier
from .extras import MissingExtra
from .lab.animations import animate_run, save_walk
from .lab.cell import config_from_cell, describe_config
from .lab.compare import differences_html, differing_settings, plot_last_grids, plot_losses_overlaid
from .lab.explore import explorer, latent_directions
from .lab.rerun import plan_run
from .lab.runs import (config_of, format_runs, latest_runs, nearest_images, read_evals, read_metrics, snapshot_frames,
                       summarise_runs, trained_generator)
from .lab.sweep import sweep
from .lab.sweep_results import load_study, sweep_trials, trials_html
from .lab.sweep_spec import SweepSpec
from .lab.watch import read_run, start_training, watch
from .models import Discriminator, Generator, weights_init
from .player import player_html
from .provenance import __version__, provenance
from .sample import describe_conditions, generate, interpolate, load_generator, per_class_grid, write_image_files
from .settings.config import Config, ConfigError, DataConfig, ModelConfig, ObjectiveConfig, TrainConfig, recipe_ladder
from .training.history import read_history_csv
from .training.loop import train
from .weights import export_generator


__all__ = [
    # settings
    "Config", "ConfigError", "DataConfig", "ModelConfig", "ObjectiveConfig", "TrainConfig", "config_from_cell",
    "describe_config", "recipe_ladder",
    # data and models
    "load_dataset", "to_model_range", "Generator", "Discriminator", "weights_init",
    # training and its runs
    "train", "plan_run", "start_training", "watch", "read_run", "latest_runs", "summarise_runs", "format_runs",
    "read_history_csv", "read_evals", "read_metrics", "snapshot_frames", "load_checkpoint", "config_of", "trained_generator", "CheckpointError",
    # sampling and sharing
    "load_generator", "generate", "interpolate", "per_class_grid", "describe_conditions", "write_image_files",
    "export_generator", "animate_run", "save_walk", "player_html", "viz", "explorer", "latent_directions",
    # many runs at once: sweeps
    "sweep", "SweepSpec", "sweep_trials", "trials_html", "load_study",
    # comparing runs
    "differing_settings", "differences_html", "plot_last_grids", "plot_losses_overlaid",
    # evaluation
    "evaluate_checkpoint", "make_space", "real_vs_real", "ensure_classifier", "nearest_images",
    # provenance and optional parts
    "provenance", "MissingExtra", "__version__",
]
