"""Neural remaining-useful-life models in torch: a 1-D CNN and an LSTM over sensor windows.

Both standardize the readings and the target with statistics learned in ``fit``, train with Adam
on mean squared error in mini-batches, and run on the CPU, or on CUDA when ``device="auto"``
finds one. Training is seeded and deterministic on the CPU. The learned state is the network's
weights as numpy arrays (no pickle).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.exceptions import NotFittedError

from twin.ml.predictor import Predictor, check_windows


def _torch() -> Any:
    import torch

    return torch


class _TorchRUL(Predictor):
    task = "rul"

    def __init__(self, hidden: int = 32, epochs: int = 30, batch_size: int = 128,
                 learning_rate: float = 3e-3, seed: int = 0, device: str = "auto") -> None:
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.seed = seed
        self.device = device

    def _network(self, sensors: int, steps: int) -> Any:
        raise NotImplementedError

    def _device(self) -> Any:
        torch = _torch()
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def fit(self, X: np.ndarray, y: np.ndarray) -> _TorchRUL:
        torch = _torch()
        X = check_windows(X)
        y = np.asarray(y, dtype=float)
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        device = self._device()
        self.x_mean_ = X.mean(axis=(0, 1))
        self.x_scale_ = X.std(axis=(0, 1)) + 1e-9
        self.y_mean_ = float(y.mean())
        self.y_scale_ = float(y.std() + 1e-9)
        self.shape_ = np.array(X.shape[1:])
        net = self._network(X.shape[2], X.shape[1]).to(device)
        inputs = torch.as_tensor((X - self.x_mean_) / self.x_scale_, dtype=torch.float32)
        targets = torch.as_tensor((y - self.y_mean_) / self.y_scale_, dtype=torch.float32)
        optimizer = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
        net.train()
        for _ in range(self.epochs):
            order = torch.randperm(len(inputs), generator=generator)
            for start in range(0, len(inputs), self.batch_size):
                idx = order[start:start + self.batch_size]
                xb, yb = inputs[idx].to(device), targets[idx].to(device)
                optimizer.zero_grad()
                loss = torch.nn.functional.mse_loss(net(xb).squeeze(-1), yb)
                loss.backward()
                optimizer.step()
        self.net_ = net.eval()
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "net_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted")
        torch = _torch()
        X = check_windows(X)
        device = next(self.net_.parameters()).device
        with torch.no_grad():
            inputs = torch.as_tensor((X - self.x_mean_) / self.x_scale_, dtype=torch.float32)
            out = self.net_(inputs.to(device)).squeeze(-1).cpu().numpy().astype(float)
        return np.maximum(out * self.y_scale_ + self.y_mean_, 0.0)

    def get_state(self) -> dict[str, np.ndarray]:
        state = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        state.update(x_mean=self.x_mean_, x_scale=self.x_scale_, shape=self.shape_,
                     y=np.array([self.y_mean_, self.y_scale_]))
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> _TorchRUL:
        torch = _torch()
        self.x_mean_, self.x_scale_ = state["x_mean"], state["x_scale"]
        self.y_mean_, self.y_scale_ = float(state["y"][0]), float(state["y"][1])
        self.shape_ = state["shape"]
        steps, sensors = int(self.shape_[0]), int(self.shape_[1])
        net = self._network(sensors, steps)
        weights = {k[4:]: torch.as_tensor(v) for k, v in state.items() if k.startswith("net.")}
        net.load_state_dict(weights)
        self.net_ = net.to(self._device()).eval()
        return self


class CNNRUL(_TorchRUL):
    """Two 1-D convolutions over time, global average pooling, a linear head."""

    def _network(self, sensors: int, steps: int) -> Any:
        nn = _torch().nn

        class Net(nn.Module):  # type: ignore[name-defined]
            def __init__(self, hidden: int) -> None:
                super().__init__()
                self.conv = nn.Sequential(
                    nn.Conv1d(sensors, hidden, kernel_size=5, padding=2), nn.ReLU(),
                    nn.Conv1d(hidden, hidden, kernel_size=5, padding=2), nn.ReLU())
                self.head = nn.Linear(hidden, 1)

            def forward(self, x: Any) -> Any:
                return self.head(self.conv(x.transpose(1, 2)).mean(dim=2))

        return Net(self.hidden)


class LSTMRUL(_TorchRUL):
    """One LSTM layer over the window; its last hidden state feeds a linear head."""

    def _network(self, sensors: int, steps: int) -> Any:
        nn = _torch().nn

        class Net(nn.Module):  # type: ignore[name-defined]
            def __init__(self, hidden: int) -> None:
                super().__init__()
                self.lstm = nn.LSTM(sensors, hidden, batch_first=True)
                self.head = nn.Linear(hidden, 1)

            def forward(self, x: Any) -> Any:
                out, _ = self.lstm(x)
                return self.head(out[:, -1, :])

        return Net(self.hidden)
