"""Small teacher and student networks, built from ``@dataclass`` configs, and size/speed helpers.

The networks are small on purpose: every experiment in the book trains on a
2-core CPU in seconds. ``MLP`` flattens its input; ``SmallCNN`` keeps the
image. Both expose ``features(x)`` (the last hidden layer, for FitNets hints
and relational losses) and ``forward(x)`` (the logits).

Used in "Coding problem 2", "Experiments that matter" and "Beyond logits".
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "MLPConfig",
    "CNNConfig",
    "MLP",
    "SmallCNN",
    "build_model",
    "teacher_config",
    "student_config",
    "count_parameters",
    "model_size_bytes",
    "measure_latency",
]


@dataclass
class MLPConfig:
    """A multilayer perceptron: ``in_features -> hidden... -> num_classes``."""

    in_features: int = 64
    hidden: tuple[int, ...] = (256, 256)
    num_classes: int = 10
    dropout: float = 0.0


@dataclass
class CNNConfig:
    """A small CNN: conv blocks (3x3 conv, ReLU, 2x2 max-pool) then a linear head."""

    in_channels: int = 1
    image_size: int = 8
    channels: tuple[int, ...] = (32, 64)
    hidden: int = 128
    num_classes: int = 10
    dropout: float = 0.0


class MLP(nn.Module):
    """Fully connected network. ``(N, ...) -> (N, num_classes)``."""

    def __init__(self, config: MLPConfig):
        super().__init__()
        self.config = config
        layers: list[nn.Module] = [nn.Flatten()]
        width = config.in_features
        for h in config.hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            if config.dropout > 0:
                layers.append(nn.Dropout(config.dropout))
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, config.num_classes)
        self.feature_dim = width

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Last hidden layer, ``(N, feature_dim)``."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class SmallCNN(nn.Module):
    """Convolutional network for ``(N, C, H, W)`` images. ``-> (N, num_classes)``."""

    def __init__(self, config: CNNConfig):
        super().__init__()
        self.config = config
        blocks: list[nn.Module] = []
        c_in, size = config.in_channels, config.image_size
        for c_out in config.channels:
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c_in, size = c_out, size // 2
        self.conv = nn.Sequential(*blocks)
        flat = c_in * size * size
        hidden: list[nn.Module] = [nn.Flatten(), nn.Linear(flat, config.hidden), nn.ReLU()]
        if config.dropout > 0:
            hidden.append(nn.Dropout(config.dropout))
        self.fc = nn.Sequential(*hidden)
        self.head = nn.Linear(config.hidden, config.num_classes)
        self.feature_dim = config.hidden

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Last hidden layer, ``(N, hidden)``."""
        return self.fc(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_model(config: MLPConfig | CNNConfig) -> nn.Module:
    """Instantiate the network a config describes."""
    if isinstance(config, MLPConfig):
        return MLP(config)
    if isinstance(config, CNNConfig):
        return SmallCNN(config)
    raise TypeError(f"config must be an MLPConfig or a CNNConfig, got config={config!r}")


def teacher_config(image_size: int = 8, kind: str = "mlp") -> MLPConfig | CNNConfig:
    """The book's default teacher: a wide MLP (or a small CNN) for ``image_size`` x ``image_size`` inputs."""
    if kind == "mlp":
        return MLPConfig(in_features=image_size * image_size, hidden=(512, 512), dropout=0.2)
    if kind == "cnn":
        return CNNConfig(image_size=image_size, channels=(32, 64), hidden=128, dropout=0.2)
    raise ValueError(f"kind must be 'mlp' or 'cnn', got kind={kind!r}")


def student_config(image_size: int = 8, hidden: int = 16) -> MLPConfig:
    """The book's default student: a one-hidden-layer MLP of width ``hidden``."""
    return MLPConfig(in_features=image_size * image_size, hidden=(hidden,))


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def model_size_bytes(model: nn.Module) -> int:
    """Bytes taken by all parameters and buffers (what ``state_dict`` stores, without overhead)."""
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def measure_latency(model: nn.Module, batch: torch.Tensor, repeats: int = 50, warmup: int = 5) -> float:
    """Median wall time in seconds of one ``model(batch)`` forward pass, in eval mode without gradients."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got repeats={repeats!r}")
    was_training = model.training
    model.eval()
    times = []
    with torch.no_grad():
        for _ in range(warmup):
            model(batch)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(batch)
            times.append(time.perf_counter() - t0)
    model.train(was_training)
    return statistics.median(times)
