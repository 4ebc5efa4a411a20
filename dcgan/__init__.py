"""dcgan: DCGAN-family image generation as a small, readable PyTorch package."""

from .config import Config, ConfigError, DataConfig, ModelConfig, TrainConfig
from .models import Discriminator, Generator, weights_init
from .train import train

__all__ = ["Config", "ConfigError", "DataConfig", "ModelConfig", "TrainConfig",
           "Discriminator", "Generator", "weights_init", "train"]
__version__ = "0.1.0"
