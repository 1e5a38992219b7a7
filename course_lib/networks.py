"""Actor-critic networks: a shared torso, a policy head (logits) and a value head.

Every model here is called as ``dist, value = model(obs)`` with ``dist`` a ``Categorical`` over
actions and ``value`` shaped ``[batch]`` (or ``None`` for a policy without critic). The runners
and the notebooks only rely on that call.

Initialisation follows the A2C/PPO recipe: orthogonal weights with gain sqrt(2) in the torso,
0.01 on the policy head (so the first policy is near uniform and explores) and 1 on the value
head; zero biases.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn
from torch.distributions import Categorical

LayerT = TypeVar("LayerT", nn.Linear, nn.Conv2d)


def layer_init(layer: LayerT, gain: float = math.sqrt(2), bias: float = 0.0) -> LayerT:
    nn.init.orthogonal_(layer.weight, gain)
    assert layer.bias is not None, "the course's layers all have a bias"
    nn.init.constant_(layer.bias, bias)
    return layer


class MLPActorCritic(nn.Module):
    """For low-dimensional observations (CartPole). ``critic=False`` gives a policy-only network.

    ``shared=False`` gives actor and critic torsos of their own: on small control tasks the value
    loss then cannot disturb the policy's features, which makes learning steadier.
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden: int = 64, critic: bool = True, shared: bool = False):
        super().__init__()

        def torso():
            return nn.Sequential(
                layer_init(nn.Linear(obs_dim, hidden)), nn.Tanh(), layer_init(nn.Linear(hidden, hidden)), nn.Tanh()
            )

        self.torso = torso()
        self.policy_head = layer_init(nn.Linear(hidden, n_actions), gain=0.01)
        self.critic_torso = None if (shared or not critic) else torso()
        self.value_head = layer_init(nn.Linear(hidden, 1), gain=1.0) if critic else None

    def forward(self, obs: torch.Tensor) -> tuple[Categorical, torch.Tensor | None]:
        obs = obs.float()
        features = self.torso(obs)
        dist = Categorical(logits=self.policy_head(features))
        if self.value_head is None:
            return dist, None
        critic_features = features if self.critic_torso is None else self.critic_torso(obs)
        return dist, self.value_head(critic_features).squeeze(-1)


class NatureCNNActorCritic(nn.Module):
    """The DQN "Nature" CNN (Mnih et al., 2015) with policy and value heads on a shared torso.

    Input: uint8 frames ``[batch, in_channels, size, size]`` (Atari: 4 x 84 x 84); they are scaled
    to [0, 1] here so the rollout buffer can keep the compact uint8 frames. Doom uses 64 x 64
    frames and a 256-unit layer: a third of the computation, and as good on its scenario.
    """

    def __init__(
        self,
        n_actions: int,
        in_channels: int = 4,
        size: int = 84,
        hidden: int = 512,
        layers: tuple[tuple[int, int, int], ...] = ((32, 8, 4), (64, 4, 2), (64, 3, 1)),
    ):
        """``layers``: each convolution's (channels, kernel, stride); the Nature CNN's by default."""
        super().__init__()
        convs: list[nn.Module] = []
        channels = in_channels
        for out, kernel, stride in layers:
            convs += [layer_init(nn.Conv2d(channels, out, kernel, stride=stride)), nn.ReLU()]
            channels = out
        convs.append(nn.Flatten())
        with torch.no_grad():
            flat = nn.Sequential(*convs)(torch.zeros(1, in_channels, size, size)).shape[1]  # 64 * 7 * 7 at 84
        self.torso = nn.Sequential(*convs, layer_init(nn.Linear(flat, hidden)), nn.ReLU())
        self.policy_head = layer_init(nn.Linear(hidden, n_actions), gain=0.01)
        self.value_head = layer_init(nn.Linear(hidden, 1), gain=1.0)
        # Channels-last images: PyTorch's CPU convolutions (oneDNN) run their backward pass about
        # 1.6 times as fast in this layout (benchmarks/results/speed.md); the numbers are the same.
        self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit it

    def forward(self, obs: torch.Tensor) -> tuple[Categorical, torch.Tensor]:
        x = obs.contiguous(memory_format=torch.channels_last).float().div_(255.0)
        features = self.torso(x)
        return Categorical(logits=self.policy_head(features)), self.value_head(features).squeeze(-1)


class SmallCNNActorCritic(NatureCNNActorCritic):
    """The Nature CNN's layout on 42 x 42 frames, at half its width: a fifth of its multiply-adds.

    The same three convolutions and the same 7 x 7 map before the dense layer as the Nature CNN
    on 84 x 84 frames (its first layer, 8 x 8 with stride 4, becomes 4 x 4 with stride 2 on the
    half-size frames), but 16, 32, 32 channels and a 256-unit layer instead of 32, 64, 64 and 512.
    Pong needs no more: a few objects on a plain background (open A3C implementations, pytorch-a3c
    among them, train Pong on 42 x 42 frames).
    On 2 CPU cores its forward and backward passes cost about a third of the Nature CNN's, and a
    training loop with the emulator runs about 1.8 times as fast (benchmarks/results/speed.md).
    Initialisation, input scaling and channels-last layout as ``NatureCNNActorCritic``.
    """

    def __init__(
        self,
        n_actions: int,
        in_channels: int = 4,
        size: int = 42,
        channels: tuple[int, int, int] = (16, 32, 32),
        hidden: int = 256,
    ):
        c1, c2, c3 = channels
        super().__init__(n_actions, in_channels, size, hidden, layers=((c1, 4, 2), (c2, 4, 2), (c3, 3, 1)))


def save_checkpoint(model: nn.Module, path, half: bool = True, **meta) -> None:
    """Save weights (half precision by default: a Nature CNN shrinks from 6.5 MB to 3.3 MB)."""
    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "meta": meta}, path)


def load_checkpoint(model: nn.Module, path, device: torch.device | str = "cpu") -> dict:
    """Load weights saved by ``save_checkpoint`` onto any device (CPU or GPU); return the metadata."""
    ckpt = torch.load(path, map_location=device, weights_only=True)
    state = {k: v.to(model.state_dict()[k].dtype) for k, v in ckpt["state_dict"].items()}
    model.load_state_dict(state)
    model.to(device)
    return ckpt.get("meta", {})


def save_warm_start(model: nn.Module, optimizer: torch.optim.Optimizer, path, **meta) -> None:
    """Save what a run needs to go on where another stopped: the weights in half precision and the
    optimizer's state in bfloat16 (RMSprop's running mean of squared gradients holds values below
    float16's range, and without it the first updates of a resumed run are ten times too large).
    Its step counters stay exact. A Nature CNN: 6.7 MB."""
    weights = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    state = {
        i: {
            k: (v.bfloat16() if torch.is_tensor(v) and v.is_floating_point() and k != "step" else v)
            for k, v in s.items()
        }
        for i, s in optimizer.state_dict()["state"].items()
    }
    torch.save(
        {"state_dict": weights, "optimizer": type(optimizer).__name__, "optimizer_state": state, "meta": meta}, path
    )


def load_warm_start(name: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """Load a warm start (``save_warm_start``; a shipped one's name, or a ``.pt`` file) into ``model``
    and ``optimizer``, on the model's device; the optimizer keeps its own settings (learning rate,
    ...). Returns the metadata: the steps, minutes and score of the run it comes from, and the
    command that made it."""
    device = next(model.parameters()).device
    path = Path(name) if str(name).endswith(".pt") else pretrained_path(str(name))
    ckpt = torch.load(path, map_location=device, weights_only=True)
    if type(optimizer).__name__ != ckpt["optimizer"]:
        raise ValueError(f"{name} holds the state of {ckpt['optimizer']}, not of {type(optimizer).__name__}")
    model.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in ckpt["state_dict"].items()})
    groups = optimizer.state_dict()["param_groups"]  # this optimizer's settings, its parameters' ids
    optimizer.load_state_dict({"state": ckpt["optimizer_state"], "param_groups": groups})
    return ckpt.get("meta", {})


PONG_NETWORK: dict[str, Any] = dict(n_actions=6, size=42)  # SmallCNNActorCritic: notebook 2's Pong agents
DOOM_NETWORK: dict[str, Any] = dict(n_actions=4, size=64, hidden=256)  # notebook 5 and its pretrained agent
PRETRAINED = {
    "pong_a2c": lambda: SmallCNNActorCritic(**PONG_NETWORK),
    "doom_a2c": lambda: NatureCNNActorCritic(**DOOM_NETWORK),
}


def pretrained_path(name: str, suffix: str = ".pt") -> Path:
    """Where a shipped agent's files are: weights (``.pt``), learning curve (``.json``, ``.png``)."""
    return Path(str(resources.files("course_lib") / "pretrained" / f"{name}{suffix}"))


def load_pretrained(name: str, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """A trained agent that ships with course_lib, in eval mode, and its metadata (score, steps, command)."""
    if name not in PRETRAINED:
        raise KeyError(f"no pretrained agent {name!r}; there are: {', '.join(PRETRAINED)}")
    model = PRETRAINED[name]()
    meta = load_checkpoint(model, pretrained_path(name), device)
    return model.eval(), meta
