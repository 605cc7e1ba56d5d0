"""Neural remaining-useful-life models in torch: a temporal CNN and an LSTM over sensor windows.

Both standardize the readings and the target with statistics learned in ``fit``, train with Adam
on mean squared error in mini-batches, hold out a share ``validation`` of the training lives
(``groups``; else the last windows) and stop when the validation error has not improved for
``patience`` epochs, keeping the best weights. They run on the CPU, or on CUDA when
``device="auto"`` finds one, on ``threads`` CPU threads (1 by default: the same numbers
whatever the machine's core count, and no slow-down when other work shares the cores; more
threads than free cores make training many times slower). Training is seeded and
deterministic on the CPU. ``partial_fit`` fine-tunes a fitted network on new windows (online
learning). The learned state is the network's weights as numpy arrays (no pickle).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from sklearn.exceptions import NotFittedError

from twin.ml.predictor import Predictor, check_windows, validation_split

LOG = logging.getLogger("twin.train")
"""Each epoch's losses at INFO (``twin train`` prints them)."""


def _torch() -> Any:
    import torch

    return torch


class _TorchRUL(Predictor):
    task = "rul"

    def _network(self, sensors: int, steps: int, legacy: bool = False) -> Any:
        raise NotImplementedError

    @contextlib.contextmanager
    def _threads(self) -> Iterator[None]:
        """torch on ``threads`` threads for the duration (restored after)."""
        torch = _torch()
        before = torch.get_num_threads()
        if self.threads and self.threads != before:
            torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            if torch.get_num_threads() != before:
                torch.set_num_threads(before)

    def _device(self) -> Any:
        torch = _torch()
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None
            ) -> _TorchRUL:
        """Standardize windows and remaining lives, and train the network for at most ``epochs``
        epochs, keeping the weights with the least error on a share ``validation`` of the lives
        (``groups``: each window's life) and stopping after ``patience`` epochs without improvement;
        returns the predictor."""
        torch = _torch()
        X = check_windows(X)
        y = np.asarray(y, dtype=float)
        torch.manual_seed(self.seed)
        self.x_mean_ = X.mean(axis=(0, 1))
        self.x_scale_ = X.std(axis=(0, 1)) + 1e-9
        self.y_mean_ = float(y.mean())
        self.y_scale_ = float(y.std() + 1e-9)
        self.shape_ = np.array(X.shape[1:])
        self.updates_ = 0
        net = self._network(X.shape[2], X.shape[1]).to(self._device())
        fit, valid = validation_split(len(y), groups, self.validation, self.seed)
        with self._threads():
            self.net_ = self._train(net, X[fit], y[fit], X[valid], y[valid], self.epochs,
                                    self.seed)
        return self

    def partial_fit(self, X: np.ndarray, y: np.ndarray) -> _TorchRUL:
        """Fine-tune on new windows for ``fine_tune_epochs`` epochs (the first call fits)."""
        if not hasattr(self, "net_"):
            return self.fit(X, y)
        X = check_windows(X)
        self.updates_ += 1
        _torch().manual_seed(self.seed + self.updates_)
        empty = X[:0]
        with self._threads():
            self.net_ = self._train(self.net_, X, np.asarray(y, dtype=float), empty,
                                    np.zeros(0), self.fine_tune_epochs, self.seed + self.updates_)
        return self

    def _train(self, net: Any, X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray,
               epochs: int, seed: int) -> Any:
        torch = _torch()
        device = next(net.parameters()).device
        generator = torch.Generator().manual_seed(seed)
        inputs = torch.as_tensor((X - self.x_mean_) / self.x_scale_, dtype=torch.float32)
        targets = torch.as_tensor((y - self.y_mean_) / self.y_scale_, dtype=torch.float32)
        v_in = torch.as_tensor((Xv - self.x_mean_) / self.x_scale_, dtype=torch.float32)
        v_out = torch.as_tensor((yv - self.y_mean_) / self.y_scale_, dtype=torch.float32)
        optimizer = torch.optim.Adam(net.parameters(), lr=self.learning_rate)
        best, best_state, waited = np.inf, None, 0
        self.epochs_run_ = 0
        for _ in range(epochs):
            net.train()
            order = torch.randperm(len(inputs), generator=generator)
            for start in range(0, len(inputs), self.batch_size):
                idx = order[start:start + self.batch_size]
                xb, yb = inputs[idx].to(device), targets[idx].to(device)
                optimizer.zero_grad()
                loss = torch.nn.functional.mse_loss(net(xb).squeeze(-1), yb)
                loss.backward()
                optimizer.step()
            self.epochs_run_ += 1
            error = math.nan
            if len(v_in):
                net.eval()
                with torch.no_grad():
                    error = float(torch.nn.functional.mse_loss(
                        net(v_in.to(device)).squeeze(-1), v_out.to(device)))
            LOG.info("%s epoch %d/%d: training loss %.4g, validation loss %.4g",
                     type(self).__name__, self.epochs_run_, epochs, loss.item(), error)
            if len(v_in):
                if error < best - 1e-6:
                    best, best_state, waited = error, copy.deepcopy(net.state_dict()), 0
                else:
                    waited += 1
                    if waited >= self.patience:
                        break
        if best_state is not None:
            net.load_state_dict(best_state)
        return net.eval()

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The remaining life of each window (operating time, at least 0).

        Raises NotFittedError before ``fit``.
        """
        if not hasattr(self, "net_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted")
        torch = _torch()
        X = check_windows(X)
        device = next(self.net_.parameters()).device
        with torch.no_grad(), self._threads():
            inputs = torch.as_tensor((X - self.x_mean_) / self.x_scale_, dtype=torch.float32)
            out = self.net_(inputs.to(device)).squeeze(-1).cpu().numpy().astype(float)
        return np.maximum(out * self.y_scale_ + self.y_mean_, 0.0)

    def get_state(self) -> dict[str, np.ndarray]:
        """The network's weights (``net.`` prefixed), the input and target standardization, the
        window shape and the architecture version."""
        state = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        state.update(x_mean=self.x_mean_, x_scale=self.x_scale_, shape=self.shape_,
                     y=np.array([self.y_mean_, self.y_scale_]), arch=np.array([2]))
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> _TorchRUL:
        """Rebuild the network for the saved window shape and load its weights; returns the
        predictor."""
        torch = _torch()
        self.x_mean_, self.x_scale_ = state["x_mean"], state["x_scale"]
        self.y_mean_, self.y_scale_ = float(state["y"][0]), float(state["y"][1])
        self.shape_ = state["shape"]
        self.updates_ = 0
        steps, sensors = int(self.shape_[0]), int(self.shape_[1])
        net = self._network(sensors, steps, legacy="arch" not in state)
        weights = {k[4:]: torch.as_tensor(v) for k, v in state.items() if k.startswith("net.")}
        net.load_state_dict(weights)
        self.net_ = net.to(self._device()).eval()
        return self


class CNNRUL(_TorchRUL):
    """A temporal CNN (after Li, Ding and Sun, 2018): ``layers`` 1-D convolutions of ``hidden``
    filters over time (kernel ``kernel``, same length), one more to a single channel, the whole
    time axis flattened (time structure kept, not averaged away), dropout, a dense layer of
    ``dense`` units, a linear head."""

    def __init__(self, hidden: int = 10, kernel: int = 10, layers: int = 4, dense: int = 100,
                 dropout: float = 0.5, epochs: int = 60, batch_size: int = 256,
                 learning_rate: float = 1e-3, validation: float = 0.15, patience: int = 20,
                 fine_tune_epochs: int = 5, seed: int = 0, device: str = "auto",
                 threads: int = 1) -> None:
        self.hidden = hidden
        self.kernel = kernel
        self.layers = layers
        self.dense = dense
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation = validation
        self.patience = patience
        self.fine_tune_epochs = fine_tune_epochs
        self.seed = seed
        self.device = device
        self.threads = threads

    def _network(self, sensors: int, steps: int, legacy: bool = False) -> Any:
        nn = _torch().nn
        if legacy:  # models saved before the temporal CNN: global average over the window
            return _MeanPooledCNN(nn, sensors, self.hidden)
        k, h = self.kernel, self.hidden
        convs: list[Any] = []
        width = sensors
        for _ in range(self.layers):
            convs += [nn.Conv1d(width, h, kernel_size=k, padding="same"), nn.Tanh()]
            width = h
        convs += [nn.Conv1d(width, 1, kernel_size=3, padding="same"), nn.Tanh()]

        class Net(nn.Module):  # type: ignore[name-defined]
            def __init__(self, dense: int, dropout: float) -> None:
                super().__init__()
                self.conv = nn.Sequential(*convs)
                self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout),
                                          nn.Linear(steps, dense), nn.Tanh(),
                                          nn.Linear(dense, 1))

            def forward(self, x: Any) -> Any:
                return self.head(self.conv(x.transpose(1, 2)))

        return Net(self.dense, self.dropout)


def _MeanPooledCNN(nn: Any, sensors: int, hidden: int) -> Any:  # noqa: N802
    class Net(nn.Module):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Sequential(
                nn.Conv1d(sensors, hidden, kernel_size=5, padding=2), nn.ReLU(),
                nn.Conv1d(hidden, hidden, kernel_size=5, padding=2), nn.ReLU())
            self.head = nn.Linear(hidden, 1)

        def forward(self, x: Any) -> Any:
            return self.head(self.conv(x.transpose(1, 2)).mean(dim=2))

    return Net()


class LSTMRUL(_TorchRUL):
    """``layers`` LSTM layers over the window; the last hidden state feeds a linear head."""

    def __init__(self, hidden: int = 32, layers: int = 1, epochs: int = 40,
                 batch_size: int = 128, learning_rate: float = 3e-3, validation: float = 0.15,
                 patience: int = 10, fine_tune_epochs: int = 5, seed: int = 0,
                 device: str = "auto", threads: int = 1) -> None:
        self.hidden = hidden
        self.layers = layers
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation = validation
        self.patience = patience
        self.fine_tune_epochs = fine_tune_epochs
        self.seed = seed
        self.device = device
        self.threads = threads

    def _network(self, sensors: int, steps: int, legacy: bool = False) -> Any:
        nn = _torch().nn

        class Net(nn.Module):  # type: ignore[name-defined]
            def __init__(self, hidden: int, layers: int) -> None:
                super().__init__()
                self.lstm = nn.LSTM(sensors, hidden, num_layers=layers, batch_first=True)
                self.head = nn.Linear(hidden, 1)

            def forward(self, x: Any) -> Any:
                out, _ = self.lstm(x)
                return self.head(out[:, -1, :])

        return Net(self.hidden, self.layers)
