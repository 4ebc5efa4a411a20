"""dcgan: DCGAN-family image generation as a small, readable PyTorch package.

What a notebook or a script needs is importable from here (`from dcgan import load_generator, generate`);
the submodules hold the rest.
"""

from . import viz
from .cell import config_from_cell, describe_config
from .compare import differences_html, differing_settings, plot_last_grids, plot_losses_overlaid
from .checkpoint import CheckpointError, load_checkpoint
from .config import Config, ConfigError, DataConfig, ModelConfig, ObjectiveConfig, TrainConfig, recipe_ladder
from .data import load_dataset, to_model_range
from .evaluate import evaluate_checkpoint, make_space, real_vs_real
from .explore import explorer, latent_directions
from .export import animate_run, save_walk
from .extras import MissingExtra
from .features import ensure_classifier
from .history import read_history_csv
from .models import Discriminator, Generator, weights_init
from .player import player_html
from .provenance import __version__, provenance
from .rerun import plan_run
from .runs import (config_of, format_runs, latest_runs, nearest_images, read_evals, read_metrics, snapshot_frames,
                   summarise_runs, trained_generator)
from .sample import describe_conditions, generate, interpolate, load_generator, per_class_grid, write_image_files
from .train import train
from .watch import read_run, start_training, watch
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
    # comparing runs
    "differing_settings", "differences_html", "plot_last_grids", "plot_losses_overlaid",
    # evaluation
    "evaluate_checkpoint", "make_space", "real_vs_real", "ensure_classifier", "nearest_images",
    # provenance and optional parts
    "provenance", "MissingExtra", "__version__",
]
