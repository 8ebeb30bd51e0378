"""Synthetic human poses and motion, and the benchmark of `SmplFitter` against an SMPLify-style fit.

The pose generator draws each joint's axis-angle components uniformly inside a per-joint box of human-like limits
(`POSE_LIMITS`, SMPL's sign conventions); the motion generator moves every component smoothly inside the same
boxes. Both serve the tests and the benchmark, so a result of one is reproducible in the other.

The benchmark runs on one core: torch gets one thread, numpy's BLAS gets one through threadpoolctl when it is
installed (otherwise set OMP_NUM_THREADS=1 before starting Python).
"""

from __future__ import annotations

import math
import time
import contextlib
import sys
from contextlib import ExitStack
from typing import Any

import numpy as np

from .fitter import FitterParams, SmplFitter
from .skeleton import HUMANML3D_NUM_JOINTS
from .smpl import (
    SmplModel,
    axis_angle_to_matrix,
    default_smpl_model,
    matrix_to_axis_angle,
)

# Joint -> ((low, high) of the x, y, z axis-angle components), radians, in SMPL's rest frame (y up, facing +z,
# body's left = +x). Signs: -x swings a leg forward, +x bends a knee or the spine forward; +z raises the left arm
# and moves the left leg outwards (-z on the right); -y swings the left arm forward (+y on the right); the left
# elbow bends with -y (+y on the right). Hands (22, 23) stay at rest: nothing observes them.
POSE_LIMITS: dict[int, tuple[tuple[float, float], ...]] = {
    1: ((-1.6, 0.4), (-0.5, 0.5), (-0.3, 0.8)),  # left hip
    2: ((-1.6, 0.4), (-0.5, 0.5), (-0.8, 0.3)),  # right hip
    3: ((-0.2, 0.4), (-0.25, 0.25), (-0.2, 0.2)),  # spine1
    4: ((0.0, 2.2), (-0.1, 0.1), (-0.05, 0.05)),  # left knee
    5: ((0.0, 2.2), (-0.1, 0.1), (-0.05, 0.05)),  # right knee
    6: ((-0.2, 0.4), (-0.25, 0.25), (-0.2, 0.2)),  # spine2
    7: ((-0.5, 0.4), (-0.3, 0.3), (-0.3, 0.3)),  # left ankle
    8: ((-0.5, 0.4), (-0.3, 0.3), (-0.3, 0.3)),  # right ankle
    9: ((-0.2, 0.4), (-0.25, 0.25), (-0.2, 0.2)),  # spine3
    10: ((-0.3, 0.3), (-0.1, 0.1), (-0.1, 0.1)),  # left foot (toes)
    11: ((-0.3, 0.3), (-0.1, 0.1), (-0.1, 0.1)),  # right foot
    12: ((-0.4, 0.5), (-0.5, 0.5), (-0.3, 0.3)),  # neck
    13: ((-0.2, 0.2), (-0.2, 0.2), (-0.15, 0.35)),  # left collar
    14: ((-0.2, 0.2), (-0.2, 0.2), (-0.35, 0.15)),  # right collar
    15: ((-0.4, 0.4), (-0.5, 0.5), (-0.3, 0.3)),  # head
    16: ((-1.0, 1.0), (-1.4, 0.6), (-1.4, 1.2)),  # left shoulder (x: twist about the arm)
    17: ((-1.0, 1.0), (-0.6, 1.4), (-1.2, 1.4)),  # right shoulder
    18: ((-0.5, 0.5), (-2.4, 0.0), (-0.1, 0.1)),  # left elbow
    19: ((-0.5, 0.5), (0.0, 2.4), (-0.1, 0.1)),  # right elbow
    20: ((-0.5, 0.5), (-0.5, 0.5), (-0.5, 0.5)),  # left wrist
    21: ((-0.5, 0.5), (-0.5, 0.5), (-0.5, 0.5)),  # right wrist
}
ROOT_TILT_LIMITS = ((-0.3, 0.5), (-0.3, 0.3))  # pelvis lean (x) and roll (z) before a free heading about y


def _limits() -> tuple[np.ndarray, np.ndarray]:
    low, high = np.zeros((24, 3)), np.zeros((24, 3))
    for joint, ranges in POSE_LIMITS.items():
        low[joint], high[joint] = np.array(ranges).T
    return low[1:].reshape(-1), high[1:].reshape(-1)  # (69,) each


def _root_orientation(heading: float, lean: float, roll: float) -> np.ndarray:
    """Axis-angle (3,) of a pelvis turned by `heading` about the vertical after leaning and rolling."""
    turn = axis_angle_to_matrix(np.array([0.0, heading, 0.0]))
    return matrix_to_axis_angle(turn @ axis_angle_to_matrix(np.array([lean, 0.0, roll])))


def random_pose(rng: np.random.Generator, prior_torso: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One random plausible pose: global_orient (3,) and body_pose (69,), axis-angle radians.

    With `prior_torso` the torso is drawn as the fitter's priors resolve what MediaPipe cannot see (see
    `_prior_torso`), so that a fit from MediaPipe landmarks alone can recover every joint.
    """
    low, high = _limits()
    body_pose = rng.uniform(low, high)
    (lean_low, lean_high), (roll_low, roll_high) = ROOT_TILT_LIMITS
    heading, lean, roll = (
        rng.uniform(-math.pi, math.pi),
        rng.uniform(lean_low, lean_high),
        rng.uniform(roll_low, roll_high),
    )
    if not prior_torso:
        return _root_orientation(heading, lean, roll), body_pose
    twist, side, head_turn = rng.uniform(-0.25, 0.25), rng.uniform(-0.15, 0.15), rng.uniform(-0.5, 0.5)
    return _prior_torso(body_pose, heading, lean, roll, twist, side, head_turn)


def _prior_torso(
    body_pose: np.ndarray, heading: float, lean: float, roll: float, twist: float, side: float, head_turn: float
) -> tuple[np.ndarray, np.ndarray]:
    """Set the torso of a pose the way the fitter's priors share it out: the forward lean equally between the
    pelvis tilt and the three spine joints, the twist (about y) and side bend (about z) equally between the spine
    joints, the collars at rest, the head's turn equally between neck and head; the pelvis rolls freely (its hips
    show that). Returns (global_orient, body_pose).
    """
    pose = body_pose.reshape(23, 3).copy()
    for spine in (3, 6, 9):
        pose[spine - 1] = (lean / 4, twist / 3, side / 3)
    pose[13 - 1] = pose[14 - 1] = 0.0
    pose[12 - 1] = pose[15 - 1] = (0.0, head_turn / 2, 0.0)
    return _root_orientation(heading, lean / 4, roll), pose.reshape(-1)


def synthetic_motion(
    n_frames: int, fps: float = 30.0, seed: int = 0, prior_torso: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """A smooth motion: global_orient (T, 3) and body_pose (T, 69). Every pose component swings sinusoidally
    (0.2-0.8 Hz, random phase) over 70% of its range around the range's middle; the body turns at 0.3 rad/s.
    `prior_torso` as in `random_pose`, the torso swinging likewise."""
    rng = np.random.default_rng(seed)
    low, high = _limits()
    t = np.arange(n_frames)[:, None] / fps
    frequency = rng.uniform(0.2, 0.8, size=low.size)
    phase = rng.uniform(0.0, 2 * math.pi, size=low.size)
    body_pose = (low + high) / 2 + 0.35 * (high - low) * np.sin(2 * math.pi * frequency * t + phase)
    (lean_low, lean_high), (roll_low, roll_high) = ROOT_TILT_LIMITS
    torso_phase = rng.uniform(0.0, 2 * math.pi, size=5)
    wave = np.sin(2 * math.pi * np.array([0.3, 0.25, 0.35, 0.4, 0.45]) * t + torso_phase)  # (T, 5)
    lean = (lean_low + lean_high) / 2 + 0.35 * (lean_high - lean_low) * wave[:, 0]
    roll = (roll_low + roll_high) / 2 + 0.35 * (roll_high - roll_low) * wave[:, 1]
    heading = 0.3 * t[:, 0]
    if not prior_torso:
        return np.stack([_root_orientation(*angles) for angles in zip(heading, lean, roll)]), body_pose
    frames = [
        _prior_torso(pose, h, le, ro, 0.2 * w[2], 0.1 * w[3], 0.4 * w[4])
        for pose, h, le, ro, w in zip(body_pose, heading, lean, roll, wave)
    ]
    return np.stack([f[0] for f in frames]), np.stack([f[1] for f in frames])


def motion_joints(
    model: SmplModel, global_orient: np.ndarray, body_pose: np.ndarray, betas: np.ndarray | None = None
) -> np.ndarray:
    """(T, 22, 3) metres: joints of a motion, no translation."""
    return np.stack(
        [
            model.forward_kinematics(betas, orient, pose).joints[:HUMANML3D_NUM_JOINTS]
            for orient, pose in zip(global_orient, body_pose)
        ]
    )


def _single_thread(stack: ExitStack) -> str:
    """Pin torch and (when possible) numpy's BLAS to one thread; says how numpy was pinned."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    stack.callback(torch.set_num_threads, previous)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return "not pinned (threadpoolctl missing): run with OMP_NUM_THREADS=1"
    stack.enter_context(threadpool_limits(limits=1))
    return "threadpoolctl limits=1"


def run_fit_benchmark(
    n_frames: int = 300,
    seed: int = 0,
    fps: float = 30.0,
    max_baseline_iterations: int = 2000,
    baseline_floor_m: float = 1e-3,
    baseline_frames: int | None = None,
) -> dict[str, Any]:
    """Stream a smooth synthetic motion's 22 joints through `SmplFitter` (warm-started, no filter, mean shape) and,
    on the same targets, through an SMPLify-style fit: smplx's SMPL forward pass plus torch Adam on
    global_orient, body_pose and transl, warm-started from its previous frame, stepping until its mean joint error
    is at most ours on that frame (or `baseline_floor_m`, if ours is below it: float32 smplx and first-order steps
    go no deeper in reasonable time). The baseline, about 500x slower, runs on the first `baseline_frames` frames
    only (None: all). Times are per frame on one core; errors in metres."""
    import smplx
    import torch
    from smplx.utils import Struct

    model = default_smpl_model()
    global_orient, body_pose = synthetic_motion(n_frames, fps, seed)
    targets = motion_joints(model, global_orient, body_pose)
    stamps = np.arange(n_frames) / fps

    with ExitStack() as stack:
        numpy_threads = _single_thread(stack)
        fitter = SmplFitter(model, FitterParams(filter=None, calibration_frames=0))
        ours_time, ours_error, ours_iterations = [], [], []
        for stamp, target in zip(stamps, targets):
            start = time.perf_counter()
            fit = fitter.fit_joints(stamp, target)
            ours_time.append(time.perf_counter() - start)
            ours_error.append(float(np.mean(np.linalg.norm(fit.joints + target[0] - target, axis=1))))
            ours_iterations.append(fit.iterations)

        # smplx prints a note about the number of betas on stdout, where `motionllm bench --json` writes its result.
        with contextlib.redirect_stdout(sys.stderr):
            body = smplx.SMPL(
                model_path="",
                data_struct=Struct(
                    v_template=model.v_template,
                    shapedirs=model.shapedirs,
                    posedirs=model.posedirs,
                    J_regressor=model.J_regressor,
                    weights=model.weights,
                    f=model.faces,
                    kintree_table=np.stack([model.parents, np.arange(len(model.parents))]),
                ),
            )
        orient = torch.zeros(1, 3, requires_grad=True)
        pose = torch.zeros(1, 69, requires_grad=True)
        transl = torch.zeros(1, 3, requires_grad=True)
        base_time, base_error, base_iterations = [], [], []
        for target, ours in zip(targets[:baseline_frames], ours_error):
            goal = torch.tensor(target, dtype=torch.float32)
            tolerance = max(ours, baseline_floor_m)
            optimiser = torch.optim.Adam([orient, pose, transl], lr=0.02)  # best of 0.005-0.05 here
            start = time.perf_counter()
            for iteration in range(1, max_baseline_iterations + 1):
                optimiser.zero_grad()
                joints = body(global_orient=orient, body_pose=pose, transl=transl).joints[0, :HUMANML3D_NUM_JOINTS]
                distance = torch.linalg.norm(joints - goal, dim=1)
                error = float(distance.detach().mean())
                if error <= tolerance:
                    break
                (distance**2).mean().backward()
                optimiser.step()
            base_time.append(time.perf_counter() - start)
            base_error.append(error)
            base_iterations.append(iteration)

    def summary(times: list[float]) -> dict[str, float]:
        array = np.array(times) * 1e3
        return {
            "median_ms": float(np.median(array)),
            "p95_ms": float(np.percentile(array, 95)),
            "max_ms": float(array.max()),
        }

    ours_summary, base_summary = summary(ours_time), summary(base_time)
    return {
        "frames": n_frames,
        "baseline_frames": len(base_time),
        "fps": fps,
        "numpy_threads": numpy_threads,
        "ours": {
            **ours_summary,
            "mean_error_m": float(np.mean(ours_error)),
            "max_error_m": float(np.max(ours_error)),
            "mean_iterations": float(np.mean(ours_iterations)),
        },
        "baseline": {
            **base_summary,
            "mean_error_m": float(np.mean(base_error)),
            "mean_iterations": float(np.mean(base_iterations)),
            "frames_not_converged": int(np.sum(np.array(base_iterations) >= max_baseline_iterations)),
        },
        "speedup_median": base_summary["median_ms"] / ours_summary["median_ms"],
    }
