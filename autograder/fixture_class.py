"""A made-up class of submissions, generated from the solutions, to try the grader on.

    python -m autograder.fixture_class build/fixture_class   # then: python -m autograder.grade ...

Students: ``reference`` (the solutions), ``blank`` (the student notebooks), ``partly_right``, one
student per typical mistake (``MISTAKES``: each replaces one solution cell, so every variant is a
complete, runnable notebook), and one per bad or hostile case (``HOSTILE``). ``EXPECTED`` says
what each must get; the test suite grades the class and checks it.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import nbformat

from autograder.collect import grade_id_of
from autograder.release import ROOT, assignment_ids

MISTAKES: dict[str, tuple[str, str, str]] = {
    # name: (notebook, grade_id of the solution cell, the student's source)
    "returns_ignore_boundaries": ("01_policy_gradient", "returns_solution", '''
import torch

def discounted_returns(rewards, dones, gamma):
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * running      # forgets that episodes end
        returns[t] = running
    return returns
'''),
    "returns_in_place": ("01_policy_gradient", "returns_solution", '''
import torch

def discounted_returns(rewards, dones, gamma):
    for t in reversed(range(rewards.shape[0] - 1)):
        rewards[t] += gamma * (1 - dones[t]) * rewards[t + 1]   # overwrites the caller's rewards
    return rewards
'''),
    "loss_wrong_sign": ("01_policy_gradient", "loss_solution", '''
import torch

def reinforce_loss(log_probs, returns):
    advantages = (returns - returns.mean()) / (returns.std() + 1e-8)
    return (log_probs * advantages.detach()).mean()
'''),
    "loss_no_baseline": ("01_policy_gradient", "loss_solution", '''
import torch

def reinforce_loss(log_probs, returns):
    return -(log_probs * returns).mean()
'''),
    "targets_no_bootstrap": ("02_a2c", "targets_solution", '''
import torch

def n_step_targets(rewards, terminated, truncated, final_values, last_value, gamma):
    targets = torch.zeros_like(rewards)
    running = torch.zeros_like(last_value)            # forgets V(s_T): no bootstrap
    for t in reversed(range(rewards.shape[0])):
        running = torch.where(truncated[t].bool(), final_values[t], running)
        running = rewards[t] + gamma * (1 - terminated[t]) * running
        targets[t] = running
    return targets
'''),
    "targets_ignore_dones": ("02_a2c", "targets_solution", '''
import torch

def n_step_targets(rewards, terminated, truncated, final_values, last_value, gamma):
    targets = torch.zeros_like(rewards)
    running = last_value
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * running         # runs across episode ends
        targets[t] = running
    return targets
'''),
    "loss_advantages_not_detached": ("02_a2c", "loss_solution", '''
import torch

def a2c_loss(dist, actions, values, targets, value_coef=0.5, entropy_coef=0.01):
    advantages = targets - values                      # not detached
    policy_loss = -(dist.log_prob(actions) * advantages).mean()
    value_loss = (targets - values).pow(2).mean()
    entropy = dist.entropy().mean()
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy
    return {"loss": loss, "policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
'''),
    "loss_entropy_of_sampled_action": ("02_a2c", "loss_solution", '''
import torch

def a2c_loss(dist, actions, values, targets, value_coef=0.5, entropy_coef=0.01):
    advantages = (targets - values).detach()
    log_probs = dist.log_prob(actions)
    policy_loss = -(log_probs * advantages).mean()
    value_loss = (targets - values).pow(2).mean()
    entropy = -log_probs.mean()                        # one-sample estimate, not the entropy
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy
    return {"loss": loss, "policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
'''),
    "adam_state_not_shared": ("03_a3c", "optimizer_solution", '''
import math
import torch

class SharedAdam(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = torch.zeros(()).share_memory_()
                state["exp_avg"] = torch.zeros_like(p.data)          # not in shared memory
                state["exp_avg_sq"] = torch.zeros_like(p.data)

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                state["step"] += 1
                t = float(state["step"])
                state["exp_avg"].mul_(beta1).add_(p.grad, alpha=1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2 ** t)).add_(group["eps"])
                p.addcdiv_(state["exp_avg"], denom, value=-group["lr"] / (1 - beta1 ** t))
'''),
    "adam_step_is_a_number": ("03_a3c", "optimizer_solution", '''
import math
import torch

class SharedAdam(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = 0                                    # a Python number: private to each worker
                state["exp_avg"] = torch.zeros_like(p.data).share_memory_()
                state["exp_avg_sq"] = torch.zeros_like(p.data).share_memory_()

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                state["step"] += 1
                t = float(state["step"])
                state["exp_avg"].mul_(beta1).add_(p.grad, alpha=1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2 ** t)).add_(group["eps"])
                p.addcdiv_(state["exp_avg"], denom, value=-group["lr"] / (1 - beta1 ** t))
'''),
    "adam_state_made_in_step": ("03_a3c", "optimizer_solution", '''
import math
import torch

class SharedAdam(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                state = self.state[p]
                if not state:                                        # like torch's Adam: made at the first step
                    state["step"] = torch.zeros(()).share_memory_()
                    state["exp_avg"] = torch.zeros_like(p.data).share_memory_()
                    state["exp_avg_sq"] = torch.zeros_like(p.data).share_memory_()
                state["step"] += 1
                t = float(state["step"])
                state["exp_avg"].mul_(beta1).add_(p.grad, alpha=1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2 ** t)).add_(group["eps"])
                p.addcdiv_(state["exp_avg"], denom, value=-group["lr"] / (1 - beta1 ** t))
'''),
    "update_keeps_the_gradients": ("03_a3c", "update_solution", '''
import torch

def a3c_update(local_model, shared_model, optimizer, batch, cfg):
    targets = n_step_targets(batch.rewards, batch.terminated, batch.truncated, batch.final_values,
                             batch.last_value, cfg.gamma)
    dist, values = local_model(batch.obs.flatten(0, 1))
    parts = a2c_loss(dist, batch.actions.flatten(), values, targets.flatten(), cfg.value_coef, cfg.entropy_coef)
    local_model.zero_grad()
    parts["loss"].backward()
    torch.nn.utils.clip_grad_norm_(local_model.parameters(), cfg.max_grad_norm)
    optimizer.step()                                         # the shared parameters have no gradient
    local_model.load_state_dict(shared_model.state_dict())
    return {name: part.item() for name, part in parts.items()}
'''),
    "update_never_refreshes": ("03_a3c", "update_solution", '''
import torch

def a3c_update(local_model, shared_model, optimizer, batch, cfg):
    targets = n_step_targets(batch.rewards, batch.terminated, batch.truncated, batch.final_values,
                             batch.last_value, cfg.gamma)
    dist, values = local_model(batch.obs.flatten(0, 1))
    parts = a2c_loss(dist, batch.actions.flatten(), values, targets.flatten(), cfg.value_coef, cfg.entropy_coef)
    local_model.zero_grad()
    parts["loss"].backward()
    torch.nn.utils.clip_grad_norm_(local_model.parameters(), cfg.max_grad_norm)
    for local_p, shared_p in zip(local_model.parameters(), shared_model.parameters()):
        shared_p.grad = local_p.grad.clone()
    optimizer.step()                                         # the local model keeps its old weights
    return {name: part.item() for name, part in parts.items()}
'''),
    "gae_without_lambda": ("04_gae", "gae_solution", '''
import torch

def gae(rewards, values, terminated, truncated, final_values, last_value, gamma, lam):
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(last_value)
    next_value = last_value
    for t in reversed(range(rewards.shape[0])):
        following = torch.where(truncated[t].bool(), final_values[t], next_value) * (1 - terminated[t])
        delta = rewards[t] + gamma * following - values[t]
        ended = torch.maximum(terminated[t], truncated[t])
        running = delta + gamma * (1 - ended) * running          # forgets lambda: always lambda = 1
        advantages[t] = running
        next_value = values[t]
    return advantages
'''),
    "gae_recursion_crosses_episode_ends": ("04_gae", "gae_solution", '''
import torch

def gae(rewards, values, terminated, truncated, final_values, last_value, gamma, lam):
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(last_value)
    next_value = last_value
    for t in reversed(range(rewards.shape[0])):
        following = torch.where(truncated[t].bool(), final_values[t], next_value) * (1 - terminated[t])
        delta = rewards[t] + gamma * following - values[t]
        running = delta + gamma * lam * running                  # the next episode's advantage flows in
        advantages[t] = running
        next_value = values[t]
    return advantages
'''),
    "gae_truncation_as_termination": ("04_gae", "gae_solution", '''
import torch

def gae(rewards, values, terminated, truncated, final_values, last_value, gamma, lam):
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(last_value)
    next_value = last_value
    for t in reversed(range(rewards.shape[0])):
        ended = torch.maximum(terminated[t], truncated[t])
        delta = rewards[t] + gamma * next_value * (1 - ended) - values[t]   # a time-out treated as a death
        running = delta + gamma * lam * (1 - ended) * running
        advantages[t] = running
        next_value = values[t]
    return advantages
'''),
    "doom_update_without_normalizing": ("05_vizdoom", "update_solution", '''
import torch
from course_lib.diagnostics import explained_variance

def doom_update(model, optimizer, batch, cfg):
    with torch.no_grad():
        advantages = gae(batch.rewards, batch.values, batch.terminated, batch.truncated, batch.final_values,
                         batch.last_value, cfg.gamma, cfg.gae_lambda)
        targets = (advantages + batch.values).flatten()
        advantages = advantages.flatten()
        pass                                            # the advantages keep their scale
    dist, values = model(batch.obs.flatten(0, 1))
    policy_loss = -(dist.log_prob(batch.actions.flatten()) * advantages).mean()
    value_loss = (targets - values).pow(2).mean()
    entropy = dist.entropy().mean()
    loss = policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * entropy
    optimizer.zero_grad()
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
    optimizer.step()
    return {"loss": loss.item(), "policy_loss": policy_loss.item(), "value_loss": value_loss.item(),
            "entropy": entropy.item(), "grad_norm": grad_norm.item(), "explained_variance": explained_variance(values, targets)}
'''),
    "doom_update_normalizes_the_targets": ("05_vizdoom", "update_solution", '''
import torch
from course_lib.diagnostics import explained_variance

def doom_update(model, optimizer, batch, cfg):
    with torch.no_grad():
        advantages = gae(batch.rewards, batch.values, batch.terminated, batch.truncated, batch.final_values,
                         batch.last_value, cfg.gamma, cfg.gae_lambda)
        targets = (advantages + batch.values).flatten()
        advantages = advantages.flatten()
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)\n        targets = (advantages + batch.values.flatten())      # targets from the normalized advantages
    dist, values = model(batch.obs.flatten(0, 1))
    policy_loss = -(dist.log_prob(batch.actions.flatten()) * advantages).mean()
    value_loss = (targets - values).pow(2).mean()
    entropy = dist.entropy().mean()
    loss = policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * entropy
    optimizer.zero_grad()
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
    optimizer.step()
    return {"loss": loss.item(), "policy_loss": policy_loss.item(), "value_loss": value_loss.item(),
            "entropy": entropy.item(), "grad_norm": grad_norm.item(), "explained_variance": explained_variance(values, targets)}
'''),
    "doom_update_without_clipping": ("05_vizdoom", "update_solution", '''
import torch
from course_lib.diagnostics import explained_variance

def doom_update(model, optimizer, batch, cfg):
    with torch.no_grad():
        advantages = gae(batch.rewards, batch.values, batch.terminated, batch.truncated, batch.final_values,
                         batch.last_value, cfg.gamma, cfg.gae_lambda)
        targets = (advantages + batch.values).flatten()
        advantages = advantages.flatten()
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    dist, values = model(batch.obs.flatten(0, 1))
    policy_loss = -(dist.log_prob(batch.actions.flatten()) * advantages).mean()
    value_loss = (targets - values).pow(2).mean()
    entropy = dist.entropy().mean()
    loss = policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * entropy
    optimizer.zero_grad()
    loss.backward()
    grad_norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))  # never clipped
    optimizer.step()
    return {"loss": loss.item(), "policy_loss": policy_loss.item(), "value_loss": value_loss.item(),
            "entropy": entropy.item(), "grad_norm": grad_norm.item(), "explained_variance": explained_variance(values, targets)}
'''),
}


# More typical mistakes of notebooks 3 and 5, and correct variants that must keep full marks, written
# as small edits of one template each (the edit is the mistake).
ADAM_TEMPLATE = '''
import math
import torch


class SharedAdam(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
__INIT__

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
__STEP__
'''
SHARED_INIT = '''                state["step"] = torch.zeros(()).share_memory_()
                state["exp_avg"] = torch.zeros_like(p.data).share_memory_()
                state["exp_avg_sq"] = torch.zeros_like(p.data).share_memory_()'''
REF_STEP = '''                state["step"] += 1
                t = state["step"].item()
                state["exp_avg"].mul_(beta1).add_(p.grad, alpha=1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2 ** t)).add_(group["eps"])
                p.addcdiv_(state["exp_avg"], denom, value=-group["lr"] / (1 - beta1 ** t))'''


def adam(init=SHARED_INIT, step=REF_STEP, comment=""):
    return ADAM_TEMPLATE.replace("__INIT__", init).replace("__STEP__", step) + comment


UPDATE_TEMPLATE = '''
import torch


def a3c_update(local_model, shared_model, optimizer, batch, cfg):
    targets = n_step_targets(batch.rewards, batch.terminated, batch.truncated, batch.final_values,
                             batch.last_value, cfg.gamma)
__BODY__
    return {name: part.item() for name, part in parts.items()}
'''
REF_BODY = '''    dist, values = local_model(batch.obs.flatten(0, 1))
    parts = a2c_loss(dist, batch.actions.flatten(), values, targets.flatten(), cfg.value_coef, cfg.entropy_coef)
    local_model.zero_grad()
    parts["loss"].backward()
    torch.nn.utils.clip_grad_norm_(local_model.parameters(), cfg.max_grad_norm)
    for local_p, shared_p in zip(local_model.parameters(), shared_model.parameters()):
        shared_p.grad = local_p.grad.clone()
    optimizer.step()
    local_model.load_state_dict(shared_model.state_dict())'''


def update(body):
    return UPDATE_TEMPLATE.replace("__BODY__", body)


MISTAKES_03 = {
    # The bug seed 004 shipped: a shared step tensor, but step() counts in a private one.
    "adam_counts_steps_privately": ("03_a3c", "optimizer_solution", adam(step='''                state.setdefault("steps", torch.zeros(()))   # a private count, made at the first step
                state["steps"] += 1
                t = state["steps"].item()
                state["exp_avg"].mul_(beta1).add_(p.grad, alpha=1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2 ** t)).add_(group["eps"])
                p.addcdiv_(state["exp_avg"], denom, value=-group["lr"] / (1 - beta1 ** t))''')),
    "adam_without_bias_correction": ("03_a3c", "optimizer_solution", adam(step='''                state["step"] += 1
                state["exp_avg"].mul_(beta1).add_(p.grad, alpha=1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                p.addcdiv_(state["exp_avg"], state["exp_avg_sq"].sqrt().add_(group["eps"]), value=-group["lr"])''')),
    "adam_assigns_new_moments": ("03_a3c", "optimizer_solution", adam(step='''                state["step"] += 1
                t = state["step"].item()
                state["exp_avg"] = beta1 * state["exp_avg"] + (1 - beta1) * p.grad          # a new, private tensor
                state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1 - beta2) * p.grad ** 2
                denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2 ** t)).add_(group["eps"])
                p.addcdiv_(state["exp_avg"], denom, value=-group["lr"] / (1 - beta1 ** t))''')),
    "update_never_zeroes_the_gradients": ("03_a3c", "update_solution", update(REF_BODY.replace(
        "    local_model.zero_grad()\n", ""))),
    "update_zeroes_the_shared_gradients": ("03_a3c", "update_solution", update(REF_BODY.replace(
        "local_model.zero_grad()", "optimizer.zero_grad()           # the shared model's: the local ones accumulate"))),
    "update_forward_with_the_shared_model": ("03_a3c", "update_solution", update('''    dist, values = shared_model(batch.obs.flatten(0, 1))       # not the weights that acted
    parts = a2c_loss(dist, batch.actions.flatten(), values, targets.flatten(), cfg.value_coef, cfg.entropy_coef)
    optimizer.zero_grad()
    parts["loss"].backward()
    torch.nn.utils.clip_grad_norm_(shared_model.parameters(), cfg.max_grad_norm)
    optimizer.step()
    local_model.load_state_dict(shared_model.state_dict())''')),
    "update_refreshes_before_the_loss": ("03_a3c", "update_solution", update(
        "    local_model.load_state_dict(shared_model.state_dict())    # too early: the loss is at the shared weights\n"
        + REF_BODY.replace("\n    local_model.load_state_dict(shared_model.state_dict())", ""))),
    "update_without_clipping": ("03_a3c", "update_solution", update(REF_BODY.replace(
        "    torch.nn.utils.clip_grad_norm_(local_model.parameters(), cfg.max_grad_norm)\n", ""))),
    "update_clips_after_the_copy": ("03_a3c", "update_solution", update('''    dist, values = local_model(batch.obs.flatten(0, 1))
    parts = a2c_loss(dist, batch.actions.flatten(), values, targets.flatten(), cfg.value_coef, cfg.entropy_coef)
    local_model.zero_grad()
    parts["loss"].backward()
    for local_p, shared_p in zip(local_model.parameters(), shared_model.parameters()):
        shared_p.grad = local_p.grad.clone()
    torch.nn.utils.clip_grad_norm_(local_model.parameters(), cfg.max_grad_norm)   # too late: the copies are not clipped
    optimizer.step()
    local_model.load_state_dict(shared_model.state_dict())''')),
}

CORRECT_03 = {
    "update_zeroes_after_the_copy": ("03_a3c", "update_solution", update('''    dist, values = local_model(batch.obs.flatten(0, 1))
    parts = a2c_loss(dist, batch.actions.flatten(), values, targets.flatten(), cfg.value_coef, cfg.entropy_coef)
    parts["loss"].backward()
    torch.nn.utils.clip_grad_norm_(local_model.parameters(), cfg.max_grad_norm)
    for local_p, shared_p in zip(local_model.parameters(), shared_model.parameters()):
        shared_p.grad = local_p.grad.clone()
    local_model.zero_grad()                                  # after the copy: the next backward starts from 0
    optimizer.step()
    local_model.load_state_dict(shared_model.state_dict())''')),
    "adam_float64_step_count": ("03_a3c", "optimizer_solution", adam(init=SHARED_INIT.replace(
        "torch.zeros(())", "torch.zeros((), dtype=torch.float64)"))),
    "adam_torch_functions": ("03_a3c", "optimizer_solution", adam(step='''                step, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                step.add_(1)
                m.lerp_(p.grad, 1 - beta1)
                v.mul_(beta2).add_(p.grad.square(), alpha=1 - beta2)
                bias1, bias2 = 1 - beta1 ** float(step), 1 - beta2 ** float(step)
                p.sub_(group["lr"] / bias1 * m / (v.sqrt() / math.sqrt(bias2) + group["eps"]))''')),
    "update_grad_without_clone": ("03_a3c", "update_solution", update(REF_BODY.replace(
        "shared_p.grad = local_p.grad.clone()", "shared_p._grad = local_p.grad"))),
    "update_zero_grad_set_to_none": ("03_a3c", "update_solution", update(REF_BODY.replace(
        "local_model.zero_grad()", "for p in local_model.parameters():\n        p.grad = None"))),
}

DOOM = '''
import torch
import torch.nn.functional as F

from course_lib.diagnostics import explained_variance


def doom_update(model, optimizer, batch, cfg):
    with torch.no_grad():
        advantages = gae(batch.rewards, batch.values, batch.terminated, batch.truncated, batch.final_values,
                         batch.last_value, cfg.gamma, cfg.gae_lambda)
        targets = (advantages + batch.values).flatten()
        advantages = advantages.flatten()
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    dist, values = model(batch.obs.flatten(0, 1))
    policy_loss = -(dist.log_prob(batch.actions.flatten()) * advantages).mean()
    value_loss = (targets - values).pow(2).mean()
    entropy = dist.entropy().mean()
    loss = policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * entropy
    optimizer.zero_grad()
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
    optimizer.step()
    return {"loss": loss.item(), "policy_loss": policy_loss.item(), "value_loss": value_loss.item(),
            "entropy": entropy.item(), "grad_norm": grad_norm.item(), "explained_variance": explained_variance(values, targets)}
'''


def doom(*pairs):
    source = DOOM
    for old, new in pairs:
        assert old in source, old
        source = source.replace(old, new)
    return "05_vizdoom", "update_solution", source


MISTAKES_05 = {
    "doom_advantages_not_detached": doom((
        '''    with torch.no_grad():
        advantages = gae(batch.rewards, batch.values,''', '''    dist, values = model(batch.obs.flatten(0, 1))
    if True:                                                  # the advantages from this forward pass's values
        advantages = gae(batch.rewards, values.reshape(batch.values.shape),'''),
        ('''    dist, values = model(batch.obs.flatten(0, 1))
    policy_loss''', '''    policy_loss'''),
        ("targets = (advantages + batch.values).flatten()", "targets = (advantages + batch.values).flatten().detach()")),
    "doom_without_entropy": doom(("loss = policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * entropy",
                                  "loss = policy_loss + cfg.value_coef * value_loss     # no entropy bonus")),
    "doom_entropy_sign_flipped": doom(("- cfg.entropy_coef * entropy", "+ cfg.entropy_coef * entropy")),
    "doom_without_zero_grad": doom(("    optimizer.zero_grad()\n", "")),
    "doom_targets_are_advantages": doom(("targets = (advantages + batch.values).flatten()",
                                         "targets = advantages.flatten()              # forgets + V")),
    "doom_policy_sign_flipped": doom(("policy_loss = -(dist.log_prob", "policy_loss = (dist.log_prob")),
}

CORRECT_05 = {
    "doom_mse_loss": doom(("value_loss = (targets - values).pow(2).mean()", "value_loss = F.mse_loss(values, targets)")),
    "doom_biased_std": doom(("advantages.std() + 1e-8", "advantages.std(unbiased=False) + 1e-8")),
    "doom_sum_over_n": doom(("policy_loss = -(dist.log_prob(batch.actions.flatten()) * advantages).mean()",
                             "policy_loss = -(dist.log_prob(batch.actions.flatten()) * advantages).sum() / advantages.numel()")),
    "doom_float64_advantages": doom(("targets = (advantages + batch.values).flatten()",
                                     "advantages = advantages.double()\n        targets = (advantages + batch.values).flatten().float()"),
                                    ("advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)",
                                     "advantages = ((advantages - advantages.mean()) / (advantages.std() + 1e-8)).float()")),
}

MISTAKES_04 = {
    "gae_last_truncation_uses_last_value": ("04_gae", "gae_solution", '''
import torch

def gae(rewards, values, terminated, truncated, final_values, last_value, gamma, lam):
    T = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(last_value)
    for t in reversed(range(T)):
        if t == T - 1:
            following = last_value                                   # a truncation at the end: final_values forgotten
        else:
            following = torch.where(truncated[t].bool(), final_values[t], values[t + 1])
        following = following * (1 - terminated[t])
        delta = rewards[t] + gamma * following - values[t]
        ended = torch.maximum(terminated[t], truncated[t])
        running = delta + gamma * lam * (1 - ended) * running
        advantages[t] = running
    return advantages
'''),
}
MISTAKES.update(MISTAKES_03)
MISTAKES.update(MISTAKES_04)
MISTAKES.update(MISTAKES_05)
CORRECT = {**CORRECT_03, **CORRECT_05}


def solution_source(notebook: str, grade_id: str) -> str:
    nb = nbformat.read(ROOT / "solutions" / f"{notebook}.ipynb", as_version=4)
    return next(c.source for c in nb.cells if grade_id_of(c) == grade_id)


def with_cell(notebook_path: Path, grade_id: str, source: str) -> nbformat.NotebookNode:
    """A copy of the notebook whose cell ``grade_id`` holds ``source``."""
    nb = nbformat.read(notebook_path, as_version=4)
    cell = next(c for c in nb.cells if grade_id_of(c) == grade_id)
    cell.source = source.strip("\n")
    return nb


def mistake_submission(name: str, out: Path) -> Path:
    notebook, grade_id, source = MISTAKES[name]
    nbformat.write(with_cell(ROOT / "solutions" / f"{notebook}.ipynb", grade_id, source), out)
    return out


def function_from(source: str, name: str, context: dict | None = None):
    """The function ``name`` that ``source`` defines (with ``context``'s names available to it)."""
    namespace: dict = dict(context or {})
    exec(source, namespace)
    return namespace[name]


# --------------------------------------------------------------------------- bad and hostile cases
NB1 = "01_policy_gradient"

HOSTILE_CODE: dict[str, tuple[str, str]] = {
    # name: (grade_id of the nb01 solution cell it replaces, the student's source)
    "raises": ("returns_solution", '''
import torch

def discounted_returns(rewards, dones, gamma):
    raise RuntimeError("my code crashed")
'''),
    "hangs": ("loss_solution", '''
while True:   # never ends: the cell times out, the rest of the notebook is still graded
    pass
'''),
    "ignores_interrupt": ("loss_solution", '''
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)   # the cell timeout's interrupt does nothing:
while True:                                    # the kernel is restarted, the rest still graded
    pass
'''),
    "kills_kernel": ("loss_solution", '''
import os
os._exit(1)   # the kernel dies: a new one runs the cells below, the first exercise still counts
'''),
    "calls_exit": ("loss_solution", '''
exit()   # IPython stops the kernel after this cell: the same as a kernel that died
'''),
    "prints_to_stderr": ("returns_solution", '''
import sys
import warnings
import torch

print("debugging on stderr", file=sys.stderr)
warnings.warn("a warning of my own")

def discounted_returns(rewards, dones, gamma):
    print("inside, on stderr", file=sys.stderr)
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * (1 - dones[t]) * running
        returns[t] = running
    return returns
'''),
    "returns_nan": ("returns_solution", '''
import torch

def discounted_returns(rewards, dones, gamma):
    return torch.full_like(rewards, float("nan"))
'''),
    "wrong_shape": ("returns_solution", '''
import torch

def discounted_returns(rewards, dones, gamma):
    return rewards.cumsum(0)[:-1]
'''),
    "wrong_dtype": ("returns_solution", '''
import torch

def discounted_returns(rewards, dones, gamma):
    return rewards.long()
'''),
    "memory_hog": ("returns_solution", '''
hog = []
while True:   # allocates without end: stopped by the memory limit
    hog.append(bytearray(50_000_000))
'''),
    "fork_bomb": ("returns_solution", '''
import subprocess
children = [subprocess.Popen(["sleep", "30"]) for _ in range(100_000)]   # stopped by the process limit
'''),
    "thread_bomb": ("returns_solution", '''
import threading
import time
threads = [threading.Thread(target=time.sleep, args=(30,), daemon=True) for _ in range(100_000)]
for thread in threads:
    thread.start()   # stopped by the process limit
'''),
}

SNOOPER = '''
import glob
import os

def attempt(what, action):
    try:
        result = action()
        print(f"{what}: OK {str(result)[:80]!r}")
    except Exception as exc:
        print(f"{what}: blocked ({type(exc).__name__})")

ROOT = __ROOT__
stage = os.environ.get("COURSE_SANDBOX_STAGE", "/nonexistent")
work = os.environ.get("COURSE_SANDBOX_WORK", "/nonexistent")
out = os.path.dirname(os.path.dirname(os.path.dirname(work)))
attempt("read the solutions", lambda: open(os.path.join(ROOT, "solutions", "__NB__.ipynb")).read())
attempt("read the hidden checks", lambda: open(os.path.join(stage, "autograder", "hidden", "nb01.py")).read())
attempt("read the staged solutions", lambda: open(os.path.join(stage, "solutions", "__NB__.ipynb")).read())
attempt("read another student", lambda: open(glob.glob(os.path.join(out, "work", "reference", "submitted", "*", "*", "*.ipynb"))[0]).read())
attempt("read the gradebook", lambda: open(os.path.join(out, "work", "_template", "gradebook.db"), "rb").read())
attempt("read the submissions", lambda: open(os.path.join(__INCOMING__, "reference", "__NB__.ipynb")).read())
attempt("read another checkout", lambda: open(os.path.join(__PLANTED__, "solutions", "__NB__.ipynb")).read())
attempt("write into the repository", lambda: open(os.path.join(ROOT, "hacked.txt"), "w").write("x"))
attempt("write into the results", lambda: open(os.path.join(out, "hacked.txt"), "w").write("x"))
attempt("write into the submissions", lambda: open(os.path.join(__INCOMING__, "hacked.txt"), "w").write("x"))
attempt("reach the network", lambda: __import__("urllib.request").request.urlopen("http://example.com", timeout=3).read())
'''  # followed by the reference answer: the snooper loses nothing by trying


# Attacks on the scores themselves: each hands in a wrong (or blank) answer and tries to make it
# count. Scores come from a clean process that calls the answer cells in a process of their own
# (autograder.score), so each gets what its answer deserves.
ATTACKS: dict[str, str] = {
    # name: the source of nb01's returns_solution cell (the rest of the notebook: see build())
    "patches_allclose": '''
import torch

torch.allclose = lambda *args, **kwargs: True            # every comparison "passes" in this kernel
torch.isclose = lambda a, b, *args, **kwargs: torch.ones_like(torch.as_tensor(a), dtype=torch.bool)
torch.equal = lambda *args, **kwargs: True

def discounted_returns(rewards, dones, gamma):
    return torch.zeros_like(rewards)                    # wrong
''',
    "patches_hidden_checks": '''
import sys
import types

import course_lib.checks as checks

def _full_marks(name):
    return lambda fn, points=4.0: print(f"{name} (hidden checks): {points:g} / {points:g} points") or points

fake = types.ModuleType("autograder.hidden.nb01")
fake.grade_discounted_returns = _full_marks("discounted_returns")
fake.grade_reinforce_loss = _full_marks("reinforce_loss")
for name in ("autograder", "autograder.hidden"):
    sys.modules.setdefault(name, types.ModuleType(name))
sys.modules["autograder.hidden"].nb01 = sys.modules["autograder.hidden.nb01"] = fake
checks.expect = checks.expect_close = checks.expect_tensor = lambda *args, **kwargs: None
checks.call = lambda fn, *args, **kwargs: None

def discounted_returns(rewards, dones, gamma):
    raise NotImplementedError()
''',
    "input_transformer": '''
def _swallow(lines):
    """Every later cell swallows its errors and ends without a result."""
    body = "".join("    " + line for line in lines) or "    pass\\n"
    return ["try:\\n", body if body.endswith("\\n") else body + "\\n", "except BaseException:\\n", "    pass\\n"]

get_ipython().input_transformers_post.append(_swallow)

def discounted_returns(rewards, dones, gamma):
    raise NotImplementedError()
''',
    "calls_reference": '''
import gc
import sys

import torch

def _find_reference():
    for attempt in (lambda: sys.modules["autograder.reference"].reference("01_policy_gradient").discounted_returns,
                    lambda: __import__("autograder.reference", fromlist=["reference"]).reference("01_policy_gradient").discounted_returns):
        try:
            return attempt()
        except Exception:
            pass
    for obj in gc.get_objects():   # any function of that name that is not this cell's
        if callable(obj) and getattr(obj, "__name__", "") == "discounted_returns" and getattr(obj, "__module__", "") != __name__:
            return obj
    return None

_reference = _find_reference()
print("found the reference:", _reference is not None)

def discounted_returns(rewards, dones, gamma):
    if _reference is not None:
        return _reference(rewards, dones, gamma)
    return torch.zeros_like(rewards)                    # wrong without it
''',
    "reads_other_checkout": '''
import json
import os
import time

import torch

MARK, DEF = "### BEGIN " + "SOLUTION", "def discounted" + "_returns"   # not spelled out: this cell is not the prize

def _steal(roots, seconds=8.0):
    start = time.time()
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if os.path.join(folder, d) not in ("/proc", "/sys", "/dev")]
            if time.time() - start > seconds:
                return None, None
            for name in files:
                if name.endswith(".ipynb"):
                    try:
                        cells = json.load(open(os.path.join(folder, name))).get("cells", [])
                    except Exception:
                        continue
                    for cell in cells:
                        source = "".join(cell.get("source", []))
                        if MARK in source and DEF in source:
                            return source, os.path.join(folder, name)
    return None, None

stolen, where = _steal([__PLANTED__, "/"])
print("found a solution at:", where)
if stolen:
    exec(stolen)
else:
    def discounted_returns(rewards, dones, gamma):
        return torch.zeros_like(rewards)                # wrong without it
''',
}

BLANK_ATTACKS = {"patches_hidden_checks", "input_transformer"}  # handed in with the second exercise blank too

# Graded after notebook 1 (in its own folder): tries to rewrite notebook 1's graded copy, which
# its feedback page is made from. Its own first answer is blank.
REWRITES_OTHER_NOTEBOOK = '''
import glob
import os

here = os.getcwd()
rewritten = []
for path in glob.glob(os.path.join(here, "..", "*", "*.ipynb")) + glob.glob(os.path.join(here, "..", "..", "*", "*", "*.ipynb")):
    if "01_policy_gradient" in path:
        try:
            with open(path, "w") as f:
                f.write(\'{"cells": [{"cell_type": "markdown", "metadata": {}, "source": "HACKED 10/10"}], "metadata": {}, \'
                        \'"nbformat": 4, "nbformat_minor": 5}\')
            rewritten.append(path)
        except OSError:
            pass
print("rewrote:", rewritten)

def n_step_targets(rewards, terminated, truncated, final_values, last_value, gamma):
    raise NotImplementedError()
'''


# Attacks on the grader's host side (each followed by the reference answer, so that any point lost
# or won shows): files left behind for nbgrader and the grader to trip on, a look for the host's
# paths, builtins shadowed in the test cells, output without a bound, nbgrader's markers in an
# answer. __CANARY__: a root-owned file outside the sandbox that must stay unread and unchanged.
PLANTER = """
import os
import socket

CANARY = __CANARY__
NAMES = ["01_policy_gradient.ipynb", "timestamp.txt", "01_policy_gradient.html", "feedback.html", "gradebook.db",
         "score-result.json", "nbgrader.log", "kernel.json"]
planted = []

def plant(path, make):
    try:
        if os.path.lexists(path):
            os.remove(path)
        make(path)
        planted.append(os.path.basename(path))
    except OSError as exc:
        planted.append(f"{os.path.basename(path)}: {type(exc).__name__}")

def fifo(path):
    os.mkfifo(path)

def unix_socket(path):
    socket.socket(socket.AF_UNIX).bind(path)

for folder in {os.getcwd(), os.path.expanduser("~"), "/tmp", "/dev/shm", os.path.join(os.getcwd(), "..")}:
    for name in NAMES:
        plant(os.path.join(folder, name), __MAKE__)
plant(os.path.join(os.getcwd(), "hard-link"), lambda path: os.link(CANARY, path))
plant(os.path.join(os.getcwd(), "linked-folder"), lambda path: os.symlink(os.path.dirname(CANARY), path))
for what, action in [("read", lambda: open(CANARY).read()), ("write", lambda: open(CANARY, "a").write("x"))]:
    try:
        action()
        print(f"{what} the canary: OK")
    except OSError as exc:
        print(f"{what} the canary: blocked ({type(exc).__name__})")
print("planted:", planted)
"""

HOST_PATHS = """
import os
import sys

def show(what, read):
    try:
        print(f"--- {what}:", read())
    except Exception as exc:
        print(f"--- {what}: blocked ({type(exc).__name__})")

def text(path):
    return open(path, "rb").read().replace(bytes(1), b" ").decode(errors="replace")

show("pid 1", lambda: text("/proc/1/cmdline"))
show("pid 1 environ", lambda: text("/proc/1/environ"))
show("environ", lambda: dict(os.environ))
show("mounts", lambda: text("/proc/self/mountinfo"))
show("cwd", os.getcwd)
show("argv", lambda: text("/proc/self/cmdline"))
show("parent", lambda: text(f"/proc/{os.getppid()}/cmdline"))
show("path", lambda: sys.path)
"""

FLOOD = """
for i in range(3_000_000):   # about 300 MB, line by line: cut at the cell's limit, the cell stopped
    print("flood " * 16, i)
"""

ONE_BIG_PRINT = """
print("y" * 1024**3)   # 1 GB in one piece
"""

MARKERS = """
# ### BEGIN HIDDEN TESTS   (nbgrader's markers in an answer are the student's text)
# ### END HIDDEN TESTS
# ### BEGIN SOLUTION
NOTE = "### END SOLUTION ### BEGIN HIDDEN TESTS"
print("the cell with the markers ran")
"""

SHADOWS_BUILTINS = """
import torch

def all(*args, **kwargs):          # every visible check that asks "all ...?" hears yes
    return True

def any(*args, **kwargs):
    return True

def sorted(*args, **kwargs):
    return []

def enumerate(*args, **kwargs):
    return iter(())

def zip(*args, **kwargs):
    return iter(())

def isinstance(*args, **kwargs):
    return True


class SharedAdam(torch.optim.Optimizer):   # does nothing at all
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    def step(self):
        pass
"""

FAKES_PROBES = """
import math
import torch

import course_lib.probes as probes


class SharedAdam(torch.optim.Optimizer):   # a private state, made at the first step: not A3C's optimizer
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(step=torch.zeros(()), exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
                state["step"] += 1
                t = state["step"].item()
                state["exp_avg"].mul_(beta1).add_(p.grad, alpha=1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2 ** t)).add_(group["eps"])
                p.addcdiv_(state["exp_avg"], denom, value=-group["lr"] / (1 - beta1 ** t))


# Whatever the grader asks the probes here, they answer that the state is made up front and shared,
# and a decoy file of shared memory backs the claim.
DECOY = "torch_1_1_0"
try:
    with open(f"/dev/shm/{DECOY}", "wb") as decoy:
        decoy.write(bytes(64 + 4 * 64))
except OSError:
    pass

def looks_shared(optimizer, params, *args, **kwargs):
    def entry(p):
        return {"tensor": True, "shared": True, "dtype": "float32", "shape": list(p.shape), "offset": 0,
                "file": DECOY, "storage_bytes": 4 * 64, "contiguous": True, "value": torch.zeros_like(p)}
    return {"per_param": [{n: entry(p) for n in ("step", "exp_avg", "exp_avg_sq")} for p in params],
            "attributes": {}}

probes.describe_state = probes.state_layout = looks_shared
probes._layout = lambda value: {"tensor": True, "shared": True}
torch.Tensor.is_shared = lambda self: True
"""

# name: (notebook, grade_id of the solution cell, its source; __REFERENCE__ is the reference answer)
HOST_ATTACKS: dict[str, tuple[str, str, str]] = {
    "plants_links": ("01_policy_gradient", "returns_solution",
                     PLANTER.replace("__MAKE__", "lambda path: os.symlink(CANARY, path)") + "__REFERENCE__"),
    "plants_fifos": ("01_policy_gradient", "returns_solution",
                     PLANTER.replace("__MAKE__", "fifo") + "plant(os.path.join(os.getcwd(), 'socket'), unix_socket)\n"
                     + "__REFERENCE__"),
    "shows_host_paths": ("01_policy_gradient", "returns_solution", HOST_PATHS + "__REFERENCE__"),
    "floods_output": ("01_policy_gradient", "returns_solution", "__REFERENCE__\n" + FLOOD),
    "one_big_print": ("01_policy_gradient", "returns_solution", "__REFERENCE__\n" + ONE_BIG_PRINT),
    "markers_in_answer": ("01_policy_gradient", "returns_solution", MARKERS + "__REFERENCE__"),
    "shadows_builtins": ("03_a3c", "optimizer_solution", SHADOWS_BUILTINS),
    "fakes_probes": ("03_a3c", "optimizer_solution", FAKES_PROBES),
}


def _graded_cells(nb, test_only=False):
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
            and (not test_only or not c.metadata["nbgrader"].get("solution"))]


def _write(nb, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def build(out: Path, planted: Path | None = None, sandboxed: bool = True, canary: Path | None = None) -> Path:
    """Write the class under ``out``: a folder per student (and one LMS-style flat file).

    ``planted``: where a test put a second copy of the course (solutions included) on the grading
    machine; ``snooper`` and ``reads_other_checkout`` look for it. ``canary``: a host file the
    students of ``HOST_ATTACKS`` aim their links at. ``sandboxed=False`` leaves out
    the students of ``NEEDS_SANDBOX``.
    """
    if out.exists():
        shutil.rmtree(out)
    solution = {nb: ROOT / "solutions" / f"{nb}.ipynb" for nb in assignment_ids()}
    student_nb = {nb: ROOT / "notebooks" / f"{nb}.ipynb" for nb in solution}
    for nb, path in solution.items():
        _write(nbformat.read(path, as_version=4), out / "reference" / f"{nb}.ipynb")
        _write(nbformat.read(student_nb[nb], as_version=4), out / "blank" / f"{nb}.ipynb")
    # Partly right: the first exercise done, the second left blank.
    partly = nbformat.read(student_nb[NB1], as_version=4)
    partly_cell = next(c for c in partly.cells if grade_id_of(c) == "returns_solution")
    partly_cell.source = solution_source(NB1, "returns_solution")
    _write(partly, out / "partly_right" / f"{NB1}.ipynb")
    for name, (nb, grade_id, source) in MISTAKES.items():
        if nb in solution:
            _write(with_cell(solution[nb], grade_id, source), out / name / f"{nb}.ipynb")
    for name, (grade_id, source) in HOSTILE_CODE.items():
        _write(with_cell(solution[NB1], grade_id, source), out / name / f"{NB1}.ipynb")
    planted_path = repr(str(planted or out / "no-planted-copy"))
    snooper = (SNOOPER.replace("__ROOT__", repr(str(ROOT))).replace("__NB__", NB1).replace("__PLANTED__", planted_path)
               .replace("__INCOMING__", repr(str(out.resolve()))) + solution_source(NB1, "returns_solution"))
    _write(with_cell(solution[NB1], "returns_solution", snooper), out / "snooper" / f"{NB1}.ipynb")
    for name, source in ATTACKS.items():
        base = student_nb[NB1] if name in BLANK_ATTACKS else solution[NB1]
        _write(with_cell(base, "returns_solution", source.replace("__PLANTED__", planted_path)), out / name / f"{NB1}.ipynb")
    if "02_a2c" in solution:
        _write(nbformat.read(solution[NB1], as_version=4), out / "rewrites_other_notebook" / f"{NB1}.ipynb")
        _write(with_cell(solution["02_a2c"], "targets_solution", REWRITES_OTHER_NOTEBOOK),
               out / "rewrites_other_notebook" / "02_a2c.ipynb")

    canary_path = repr(str(canary or out / "no-canary"))
    for name, (nb, grade_id, source) in HOST_ATTACKS.items():
        if nb in solution:
            code = source.replace("__CANARY__", canary_path).replace("__REFERENCE__", solution_source(nb, grade_id))
            _write(with_cell(solution[nb], grade_id, code), out / name / f"{nb}.ipynb")

    edits = nbformat.read(solution[NB1], as_version=4)
    for cell in _graded_cells(edits, test_only=True):
        cell.source = "print('trust me, all good')\n10.0"
    _write(edits, out / "edits_tests" / f"{NB1}.ipynb")
    deletes = nbformat.read(solution[NB1], as_version=4)
    deletes.cells = [c for c in deletes.cells if c not in _graded_cells(deletes, test_only=True)]
    _write(deletes, out / "deletes_tests" / f"{NB1}.ipynb")
    strips = nbformat.read(solution[NB1], as_version=4)
    for cell in strips.cells:
        cell.metadata.pop("nbgrader", None)
    _write(strips, out / "strips_metadata" / f"{NB1}.ipynb")
    _write(nbformat.read(solution[NB1], as_version=4), out / "renamed" / "my homework FINAL.ipynb")
    # An LMS export: flat files named <student>_<anything>.ipynb
    _write(nbformat.read(solution[NB1], as_version=4), out / f"lms_12345_{NB1}.ipynb")

    (out / "invalid_json").mkdir()
    (out / "invalid_json" / f"{NB1}.ipynb").write_text('{"cells": [ this is not json')
    (out / "not_a_notebook").mkdir()
    (out / "not_a_notebook" / f"{NB1}.ipynb").write_text(json.dumps({"hello": "world"}))
    (out / "reference" / "notes.pdf").write_bytes(b"%PDF-1.4 not graded")
    if not sandboxed:
        for student in NEEDS_SANDBOX:
            shutil.rmtree(out / student, ignore_errors=True)
    return out


FULL, ZERO = 10.0, 0.0
# student: {notebook: (status, or the statuses it may get, lowest total, highest total)}
EXPECTED: dict[str, dict[str, tuple[str | tuple[str, ...], float, float]]] = {
    # reference (every notebook's full marks) and blank (zero on every notebook): see expected()
    "partly_right": {NB1: ("graded", 5.0, 5.0)},
    "returns_ignore_boundaries": {NB1: ("graded", 5.0, 7.0)},
    "returns_in_place": {NB1: ("graded", 5.0, 8.6)},
    "loss_wrong_sign": {NB1: ("graded", 5.0, 6.5)},
    "loss_no_baseline": {NB1: ("graded", 5.0, 7.0)},
    "targets_no_bootstrap": {"02_a2c": ("graded", 5.0, 7.5)},
    "targets_ignore_dones": {"02_a2c": ("graded", 5.0, 6.5)},
    "loss_advantages_not_detached": {"02_a2c": ("graded", 5.0, 9.25)},
    "loss_entropy_of_sampled_action": {"02_a2c": ("graded", 5.0, 8.5)},
    "adam_state_not_shared": {"03_a3c": ("graded", 5.0, 7.5)},
    "adam_step_is_a_number": {"03_a3c": ("graded", 5.0, 7.5)},
    "adam_state_made_in_step": {"03_a3c": ("graded", 5.0, 7.5)},
    "update_keeps_the_gradients": {"03_a3c": ("graded", 5.0, 7.5)},
    "update_never_refreshes": {"03_a3c": ("graded", 5.0, 7.5)},
    "gae_without_lambda": {"04_gae": ("graded", 0.0, 1.0)},
    "gae_recursion_crosses_episode_ends": {"04_gae": ("graded", 0.0, 1.0)},
    "gae_truncation_as_termination": {"04_gae": ("graded", 0.5, 1.5)},
    "doom_update_without_normalizing": {"05_vizdoom": ("graded", 0.0, 2.5)},
    "doom_update_normalizes_the_targets": {"05_vizdoom": ("graded", 0.0, 2.5)},
    "doom_update_without_clipping": {"05_vizdoom": ("graded", 0.0, 2.0)},
    # The mistakes notebooks 3 and 5 let through before (each loses at least half of its exercise).
    "adam_counts_steps_privately": {"03_a3c": ("graded", 6.0, 7.5)},
    "adam_without_bias_correction": {"03_a3c": ("graded", 6.0, 7.5)},
    "adam_assigns_new_moments": {"03_a3c": ("graded", 6.0, 7.5)},
    "update_never_zeroes_the_gradients": {"03_a3c": ("graded", 6.0, 7.5)},
    "update_zeroes_the_shared_gradients": {"03_a3c": ("graded", 6.0, 7.5)},
    "update_forward_with_the_shared_model": {"03_a3c": ("graded", 5.0, 7.5)},
    "update_refreshes_before_the_loss": {"03_a3c": ("graded", 5.0, 7.5)},
    "update_without_clipping": {"03_a3c": ("graded", 6.0, 7.5)},
    "update_clips_after_the_copy": {"03_a3c": ("graded", 6.0, 7.5)},
    "gae_last_truncation_uses_last_value": {"04_gae": ("graded", 0.0, 2.5)},
    "doom_advantages_not_detached": {"05_vizdoom": ("graded", 0.0, 2.5)},
    "doom_without_entropy": {"05_vizdoom": ("graded", 0.0, 2.5)},
    "doom_entropy_sign_flipped": {"05_vizdoom": ("graded", 0.0, 2.5)},
    "doom_without_zero_grad": {"05_vizdoom": ("graded", 0.0, 2.5)},
    "doom_targets_are_advantages": {"05_vizdoom": ("graded", 0.0, 2.5)},
    "doom_policy_sign_flipped": {"05_vizdoom": ("graded", 0.0, 2.5)},
    "raises": {NB1: ("graded", 5.0, 5.0)},
    "hangs": {NB1: ("timeout", 5.0, 5.0)},
    "ignores_interrupt": {NB1: ("timeout", 5.0, 5.0)},
    "kills_kernel": {NB1: ("error", 5.0, 5.0)},
    "calls_exit": {NB1: ("error", 5.0, 5.0)},
    "prints_to_stderr": {NB1: ("graded", FULL, FULL)},
    "returns_nan": {NB1: ("graded", 5.0, 5.5)},
    "wrong_shape": {NB1: ("graded", 5.0, 5.5)},
    "wrong_dtype": {NB1: ("graded", 5.0, 5.5)},
    # The hog keeps its memory: a later allocation fails as a MemoryError (graded) or, in C++ code,
    # aborts the kernel (error, the cells before it still count); which one varies from run to run.
    "memory_hog": {NB1: (("graded", "error"), ZERO, 5.0)},
    "fork_bomb": {NB1: ("graded", ZERO, 5.0)},
    "thread_bomb": {NB1: ("graded", ZERO, 5.0)},
    "snooper": {NB1: ("graded", FULL, FULL)},
    # Attacks on the scores: a wrong first answer (0.44 of its 4 hidden points: it does not change its
    # inputs) and the reference's second; or blank answers, which stay at zero.
    "patches_allclose": {NB1: ("graded", 5.0, 5.5)},
    "patches_hidden_checks": {NB1: ("graded", ZERO, ZERO)},
    "input_transformer": {NB1: ("graded", ZERO, ZERO)},
    "calls_reference": {NB1: ("graded", 5.0, 5.5)},
    "reads_other_checkout": {NB1: ("graded", 5.0, 5.5)},
    "rewrites_other_notebook": {NB1: ("graded", FULL, FULL), "02_a2c": ("graded", 5.0, 5.0)},
    "edits_tests": {NB1: ("graded", FULL, FULL)},
    "deletes_tests": {NB1: ("graded", FULL, FULL)},
    "strips_metadata": {NB1: ("graded", FULL, FULL)},
    "renamed": {NB1: ("graded", FULL, FULL)},
    "lms": {NB1: ("graded", FULL, FULL)},
    "plants_links": {NB1: ("graded", FULL, FULL)},
    "plants_fifos": {NB1: ("graded", FULL, FULL)},
    "shows_host_paths": {NB1: ("graded", FULL, FULL)},
    "floods_output": {NB1: ("output-too-large", FULL, FULL)},
    "one_big_print": {NB1: (("output-too-large", "error"), FULL, FULL)},
    "markers_in_answer": {NB1: ("graded", FULL, FULL)},
    "shadows_builtins": {"03_a3c": ("graded", 0.0, 2.5)},  # none of the optimizer's; its own zip breaks its update
    "fakes_probes": {"03_a3c": ("graded", 5.0, 6.0)},  # no more than the honest lazy state (adam_state_made_in_step)
    "invalid_json": {NB1: ("invalid-notebook", ZERO, ZERO)},
    "not_a_notebook": {NB1: ("invalid-notebook", ZERO, ZERO)},
}
UNMAPPED = {"reference/notes.pdf"}


# Students whose code is only safe to run in the grading sandbox (it exhausts the machine, writes
# outside its folder, or searches the whole file system). Without the sandbox the test suite grades
# the rest of the class and says it left these out.
NEEDS_SANDBOX = {"memory_hog", "fork_bomb", "thread_bomb", "snooper", "reads_other_checkout", "rewrites_other_notebook",
                 "plants_links", "plants_fifos", "shows_host_paths", "one_big_print"}


def expected(sandboxed: bool = True) -> dict[tuple[str, str], tuple[str | tuple[str, ...], float, float]]:
    """(student, notebook) -> (status, lowest total, highest total), for the notebooks that exist
    (without the sandbox: for the students that can be graded without it)."""
    from autograder.grading import max_points

    found = {(s, nb): v for s, nbs in EXPECTED.items() for nb, v in nbs.items()
             if nb in assignment_ids() and (sandboxed or s not in NEEDS_SANDBOX)}
    for nb in assignment_ids():
        full = sum(max_points(nb).values())
        found["reference", nb] = ("graded", full, full)
        found["blank", nb] = ("graded", ZERO, ZERO)
    return found


if __name__ == "__main__":
    print("wrote", build(Path(sys.argv[1] if len(sys.argv) > 1 else "build/fixture_class")))
