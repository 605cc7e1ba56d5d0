"""Image predictors of defects: a small 2-D CNN in torch, and a contrast rule.

Both take images as ``X`` of shape ``(images, height, width)`` (grey values) and give the
probability that the part shown is defective (task ``defect``), as every predictor gives one
value per row of ``X``.

``CNN2D`` is two convolutions (``channels`` 5x5 filters with stride 2, then twice as many 3x3
ones, ReLU, a 2x2 max pooling between them), a global max pooling (a defect anywhere counts)
and a logistic output, trained with Adam on the cross-entropy in mini-batches
of ``batch_size`` for ``epochs`` epochs, seeded, on ``threads`` CPU threads. The images are
centred by their own median (the lighting level) before the network sees them. The learned state
is the weights as numpy arrays (no pickle).

``ContrastRule`` is the classical machine-vision baseline: remove the image's lighting (a
least-squares plane), smooth with a 3x3 mean, take the largest deviation left; the defect
probability is a logistic function of it, whose midpoint and slope ``fit`` learns.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from twin.ml.predictor import Predictor, check_windows

LOG = logging.getLogger("twin.train")


def _centred(X: np.ndarray) -> np.ndarray:
    X = check_windows(X)
    return X - np.median(X.reshape(len(X), -1), axis=1)[:, None, None]


class CNN2D(Predictor):
    """A small 2-D convolutional network of the defect probability of a part from its image."""

    task = "defect"

    def __init__(self, epochs: int = 8, batch_size: int = 32, learning_rate: float = 3e-3,
                 channels: int = 8, seed: int = 0, threads: int = 1) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.channels = channels
        self.seed = seed
        self.threads = threads

    def _network(self) -> Any:
        import torch
        from torch import nn

        c = self.channels

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.features = nn.Sequential(
                    nn.Conv2d(1, c, 5, stride=2, padding=2), nn.ReLU(),
                    nn.MaxPool2d(2, ceil_mode=True),
                    nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU())
                self.out = nn.Linear(2 * c, 1)

            def forward(self, x: Any) -> Any:
                h = self.features(x.unsqueeze(1))
                return self.out(torch.amax(h, dim=(2, 3))).squeeze(-1)

        return Net()

    def fit(self, X: np.ndarray, y: np.ndarray) -> CNN2D:
        """Train on images ``X`` labelled ``y`` (1: defective)."""
        import torch

        images = _centred(X)
        labels = np.asarray(y, dtype=float)
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            torch.manual_seed(self.seed)
            net = self._network()
            generator = torch.Generator().manual_seed(self.seed)
            inputs = torch.as_tensor(images, dtype=torch.float32)
            targets = torch.as_tensor(labels, dtype=torch.float32)
            optimizer = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
            loss_fn = torch.nn.BCEWithLogitsLoss()
            for epoch in range(self.epochs):
                net.train()
                order = torch.randperm(len(inputs), generator=generator)
                total = 0.0
                for start in range(0, len(inputs), self.batch_size):
                    idx = order[start:start + self.batch_size]
                    optimizer.zero_grad()
                    loss = loss_fn(net(inputs[idx]), targets[idx])
                    loss.backward()
                    optimizer.step()
                    total += float(loss.detach()) * len(idx)
                LOG.info("CNN2D epoch %d/%d: training loss %.4g", epoch + 1, self.epochs,
                         total / len(inputs))
        finally:
            torch.set_num_threads(before)
        self.net_ = net.eval()
        self.size_ = np.array(images.shape[1:])
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The defect probability of each image."""
        if not hasattr(self, "net_"):
            raise NotFittedError("CNN2D is not fitted")
        import torch

        images = _centred(X)
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with torch.no_grad():
                logits = self.net_(torch.as_tensor(images, dtype=torch.float32)).numpy()
        finally:
            torch.set_num_threads(before)
        return (1.0 / (1.0 + np.exp(-logits.astype(float)))).reshape(len(images))

    def get_state(self) -> dict[str, np.ndarray]:
        """The network's weights as arrays, and the image size trained on."""
        state = {k: v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        return {**state, "size": self.size_}

    def set_state(self, state: dict[str, np.ndarray]) -> CNN2D:
        """The network ``get_state`` gave."""
        import torch

        net = self._network()
        net.load_state_dict({k: torch.as_tensor(v) for k, v in state.items() if k != "size"})
        self.net_ = net.eval()
        self.size_ = np.asarray(state["size"])
        return self


@functools.lru_cache(maxsize=8)
def _plane(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The design of a plane over an h x w image and its pseudo-inverse."""
    yy, xx = np.meshgrid(np.arange(h) / h, np.arange(w) / w, indexing="ij")
    design = np.stack([np.ones(h * w), xx.ravel(), yy.ravel()], axis=1)
    return design, np.linalg.pinv(design)


def contrast(X: np.ndarray) -> np.ndarray:
    """The largest deviation from the image's lighting plane after a 3x3 mean, per image."""
    X = check_windows(X)
    n, h, w = X.shape
    design, inverse = _plane(h, w)
    flat = X.reshape(n, -1)
    residual = (flat - (flat @ inverse.T) @ design.T).reshape(n, h, w)
    padded = np.pad(residual, ((0, 0), (1, 1), (1, 1)), mode="edge")
    smooth = sum(padded[:, i:i + h, j:j + w] for i in range(3) for j in range(3)) / 9
    return np.abs(smooth).reshape(n, -1).max(axis=1)


class ContrastRule(Predictor):
    """Defect probability as a logistic function of the image's largest local contrast."""

    task = "defect"

    def __init__(self, C: float = 100.0) -> None:
        self.C = C

    def fit(self, X: np.ndarray, y: np.ndarray) -> ContrastRule:
        """Fit the logistic function of the contrast on images ``X`` labelled ``y``."""
        feature = contrast(X)[:, None]
        self.scale_ = float(feature.std() + 1e-12)
        model = LogisticRegression(C=self.C).fit(feature / self.scale_, np.asarray(y, int))
        self.coef_ = float(model.coef_[0, 0])
        self.intercept_ = float(model.intercept_[0])
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The defect probability of each image."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("ContrastRule is not fitted")
        z = self.intercept_ + self.coef_ * contrast(X) / self.scale_
        return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))

    def get_state(self) -> dict[str, np.ndarray]:
        """The contrast's scale and the logistic coefficients."""
        return {"scale": np.array(self.scale_), "coef": np.array(self.coef_),
                "intercept": np.array(self.intercept_)}

    def set_state(self, state: dict[str, np.ndarray]) -> ContrastRule:
        """The rule ``get_state`` gave."""
        self.scale_ = float(state["scale"])
        self.coef_ = float(state["coef"])
        self.intercept_ = float(state["intercept"])
        return self
