"""The online SMPL fitter and its temporal filter, on a synthetic SMPL model loaded from a file like a real one."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from motionllm_ros.perception.filters import OneEuroFilter, OneEuroParams
from motionllm_ros.perception.fit_bench import (
    motion_joints,
    random_pose,
    run_fit_benchmark,
    synthetic_motion,
)
from motionllm_ros.perception.fitter import (
    MEDIAPIPE_MARKERS,
    FitFailure,
    FitterParams,
    SmplFit,
    SmplFitter,
    mediapipe_to_smpl_frame,
    smpl_to_mediapipe_frame,
    synthesize_mediapipe_landmarks,
)
from motionllm_ros.perception.skeleton import SMPL_PARENTS
from motionllm_ros.perception.smpl import (
    SmplModel,
    load_smpl_model,
    write_synthetic_smpl,
)

FPS = 30.0
NOISE_M = 0.02  # per axis


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> SmplModel:
    """The synthetic model through the same loader real SMPL files go through."""
    return load_smpl_model(write_synthetic_smpl(tmp_path_factory.mktemp("smpl") / "SMPL_NEUTRAL.pkl", fmt="pkl"))


def _plain(**changes: object) -> FitterParams:
    """No filter and no shape calibration unless asked: one frame is one independent fit."""
    return FitterParams(**{"filter": None, "calibration_frames": 0, **changes})  # type: ignore[arg-type]


def _joint_errors(fit: SmplFit, joints: np.ndarray) -> np.ndarray:
    """(22,) metres between the fitted and the true joints, both relative to their pelvis."""
    return np.linalg.norm(fit.joints - (joints - joints[0]), axis=1)


# -- frames --------------------------------------------------------------------------------------------------------


def test_mediapipe_axes_become_y_up_facing_the_camera() -> None:
    # MediaPipe: x right, y down, z away from the camera; ours: y up, z towards the camera, x unchanged.
    np.testing.assert_allclose(mediapipe_to_smpl_frame([[0.0, -1.0, 0.0]]), [[0.0, 1.0, 0.0]])
    np.testing.assert_allclose(mediapipe_to_smpl_frame([[0.0, 0.0, -1.0]]), [[0.0, 0.0, 1.0]])
    np.testing.assert_allclose(mediapipe_to_smpl_frame([[1.0, 0.0, 0.0]]), [[1.0, 0.0, 0.0]])
    rotation = mediapipe_to_smpl_frame(np.eye(3), camera_pitch=0.3)
    assert np.linalg.det(rotation) == pytest.approx(1.0)  # a rotation, not a mirror


def test_camera_pitch_levels_the_view() -> None:
    pitch = 0.4  # camera looking down: a level line of sight ahead appears above the optical axis
    level_ahead_in_camera = [0.0, -math.sin(pitch), math.cos(pitch)]
    np.testing.assert_allclose(mediapipe_to_smpl_frame([level_ahead_in_camera], pitch), [[0.0, 0.0, -1.0]], atol=1e-15)
    points = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_allclose(smpl_to_mediapipe_frame(mediapipe_to_smpl_frame(points, pitch), pitch), points)


def test_synthesized_landmarks_are_hip_centred_and_y_down(model: SmplModel) -> None:
    landmarks, visibility = synthesize_mediapipe_landmarks(model, None, np.zeros(3), np.zeros(69))
    np.testing.assert_allclose((landmarks[23] + landmarks[24]) / 2, 0.0, atol=1e-15)
    assert landmarks[0, 1] < 0 < landmarks[27, 1]  # nose above, ankle below: y down
    assert landmarks[0, 2] < 0  # the rest pose faces +z, i.e. the camera: the nose is nearer (z smaller)
    assert landmarks[11, 0] > landmarks[12, 0]  # facing the camera, the body's left shoulder is on the image right
    assert visibility.sum() == len(MEDIAPIPE_MARKERS) and np.isnan(landmarks[visibility == 0]).all()


# -- accuracy ------------------------------------------------------------------------------------------------------


def test_cold_fit_of_1000_random_poses_from_all_22_joints(model: SmplModel) -> None:
    """Every pose from scratch (reset: no warm start): the fit reproduces the joints to below a millimetre."""
    fitter = SmplFitter(model, _plain())
    rng = np.random.default_rng(7)
    errors = []
    for _ in range(1000):
        global_orient, body_pose = random_pose(rng)
        joints = model.forward_kinematics(None, global_orient, body_pose).joints[:22]
        fitter.reset()
        fit = fitter.fit_joints(0.0, joints)
        assert fit.valid
        errors.append(_joint_errors(fit, joints))
    errors = np.array(errors)
    assert errors.mean() < 1e-3
    assert errors.max() < 5e-3


def test_fit_is_consistent_with_forward_kinematics(model: SmplModel) -> None:
    global_orient, body_pose = random_pose(np.random.default_rng(8))
    joints = model.forward_kinematics(None, global_orient, body_pose, [0.3, 1.1, -2.0]).joints[:22]
    fit = SmplFitter(model, _plain()).fit_joints(0.0, joints)
    posed = model.forward_kinematics(fit.betas, fit.global_orient, fit.body_pose, fit.transl).joints[:22]
    np.testing.assert_allclose(posed - posed[0], fit.joints, atol=1e-12)
    np.testing.assert_allclose(posed, joints, atol=2e-3)  # transl places the body where the targets are
    assert fit.body_pose.shape == (69,) and np.all(fit.body_pose[63:] == 0)  # hands stay at rest
    assert fit.joints.shape == (22, 3) and np.all(fit.joints[0] == 0)


def test_mediapipe_landmarks_alone_recover_all_22_joints(model: SmplModel) -> None:
    """From the 21 modelled landmarks only, no noise. Poses whose unobservable torso degrees of freedom are shared
    out as the priors share them (random_pose(prior_torso=True)); every limb is free."""
    fitter = SmplFitter(model, _plain())
    rng = np.random.default_rng(9)
    errors = []
    for _ in range(200):
        global_orient, body_pose = random_pose(rng, prior_torso=True)
        joints = model.forward_kinematics(None, global_orient, body_pose).joints[:22]
        landmarks, visibility = synthesize_mediapipe_landmarks(model, None, global_orient, body_pose)
        fitter.reset()
        fit = fitter.fit_mediapipe(0.0, landmarks, visibility)
        assert fit.valid
        errors.append(_joint_errors(fit, joints))
    assert np.mean(errors) < 5e-3


def test_camera_pitch_is_undone(model: SmplModel) -> None:
    global_orient, body_pose = random_pose(np.random.default_rng(10), prior_torso=True)
    joints = model.forward_kinematics(None, global_orient, body_pose).joints[:22]
    landmarks, visibility = synthesize_mediapipe_landmarks(model, None, global_orient, body_pose, camera_pitch=0.5)
    levelled = SmplFitter(model, _plain(camera_pitch=0.5)).fit_mediapipe(0.0, landmarks, visibility)
    tilted = SmplFitter(model, _plain()).fit_mediapipe(0.0, landmarks, visibility)
    assert _joint_errors(levelled, joints).mean() < 5e-3
    assert _joint_errors(tilted, joints).mean() > 5e-2  # the whole body leans by the pitch


def _acceleration(x: np.ndarray) -> np.ndarray:
    return x[2:] - 2 * x[1:-1] + x[:-2]


def test_noise_is_reduced_and_the_filter_removes_jitter(model: SmplModel) -> None:
    """2 cm landmark noise on a smooth motion, betas calibrated on the way: the fit's joints are closer to the truth
    than the landmarks are to theirs, and the One-Euro filter at least halves the jitter (acceleration error)
    without raising the mean error."""
    n_frames = 150
    global_orient, body_pose = synthetic_motion(n_frames, FPS, seed=1, prior_torso=True)
    truth = motion_joints(model, global_orient, body_pose)
    truth -= truth[:, :1]
    rng = np.random.default_rng(11)
    frames, input_errors = [], []
    for orient, pose in zip(global_orient, body_pose):
        landmarks, visibility = synthesize_mediapipe_landmarks(model, None, orient, pose)
        noise = rng.normal(scale=NOISE_M, size=landmarks.shape)
        frames.append((landmarks + noise, visibility))
        input_errors.append(np.linalg.norm(noise[visibility > 0], axis=1))

    def run(params: FitterParams) -> np.ndarray:
        fitter = SmplFitter(model, params)
        fits = [fitter.fit_mediapipe(i / FPS, *frame) for i, frame in enumerate(frames)]
        assert all(fit.valid for fit in fits) and fitter.calibrated
        return np.array([fit.joints for fit in fits])

    raw = run(FitterParams(filter=None))
    filtered = run(FitterParams())
    raw_error = np.linalg.norm(raw - truth, axis=2).mean()
    filtered_error = np.linalg.norm(filtered - truth, axis=2).mean()
    raw_jitter = np.linalg.norm(_acceleration(raw) - _acceleration(truth), axis=2).mean()
    filtered_jitter = np.linalg.norm(_acceleration(filtered) - _acceleration(truth), axis=2).mean()
    assert raw_error <= np.mean(input_errors)
    assert filtered_jitter <= 0.5 * raw_jitter
    assert filtered_error <= raw_error


def test_shape_calibration_recovers_the_skeleton(model: SmplModel) -> None:
    betas = np.random.default_rng(12).normal(scale=0.8, size=10)
    global_orient, body_pose = synthetic_motion(40, FPS, seed=2)
    truth = motion_joints(model, global_orient, body_pose, betas)
    fitter = SmplFitter(model, FitterParams(filter=None, calibration_frames=30))
    fits = [fitter.fit_joints(i / FPS, joints) for i, joints in enumerate(truth)]
    assert np.all(fits[28].betas == 0) and np.any(fits[29].betas != 0)  # calibrated on the 30th frame ...
    assert np.all(fits[-1].betas == fits[29].betas) and fitter.calibrated  # ... and frozen
    parents = list(SMPL_PARENTS[1:22])

    def bones(b: np.ndarray) -> np.ndarray:
        rest = model.rest_joints(b)[:22]
        return np.linalg.norm(rest[1:] - rest[parents], axis=1)

    # within 3 mm: the betas prior (sigma 1) still shrinks weakly observed components (the head bone) a little
    np.testing.assert_allclose(bones(fitter.betas), bones(betas), atol=3e-3)
    after = np.array([_joint_errors(fit, joints) for fit, joints in zip(fits[30:], truth[30:])])
    before = np.array([_joint_errors(fit, joints) for fit, joints in zip(fits[:29], truth[:29])])
    assert after.mean() < 1e-3 < before.mean()


# -- bad input -----------------------------------------------------------------------------------------------------


def _stream(model: SmplModel, n_frames: int = 12) -> list[tuple[np.ndarray, np.ndarray]]:
    global_orient, body_pose = synthetic_motion(n_frames, FPS, seed=3, prior_torso=True)
    return [synthesize_mediapipe_landmarks(model, None, o, p) for o, p in zip(global_orient, body_pose)]


@pytest.mark.parametrize(
    ("landmarks", "visibility", "stamp", "reason"),
    [
        (np.full((33, 3), np.nan), np.ones(33), 0.5, FitFailure.TOO_FEW_LANDMARKS),
        (np.zeros((33, 3)), np.zeros(33), 0.5, FitFailure.TOO_FEW_LANDMARKS),
        (np.zeros((32, 3)), np.ones(32), 0.5, FitFailure.BAD_INPUT),
        (np.zeros((33, 2)), np.ones(33), 0.5, FitFailure.BAD_INPUT),
        (np.zeros((33, 3)), np.ones(33), math.nan, FitFailure.BAD_INPUT),
        (np.zeros((33, 3)), np.ones(33), None, FitFailure.BAD_INPUT),
        ("not landmarks", np.ones(33), 0.5, FitFailure.BAD_INPUT),
        ([[0.0, 0.0, 0.0], [1.0]], np.ones(33), 0.5, FitFailure.BAD_INPUT),
    ],
)
def test_bad_frames_are_invalid_and_leave_the_track_untouched(
    model: SmplModel, landmarks: np.ndarray, visibility: np.ndarray, stamp: float, reason: FitFailure
) -> None:
    frames = _stream(model)
    steady, interrupted = SmplFitter(model), SmplFitter(model)  # with the filter: its state must survive too
    for i, frame in enumerate(frames[:-1]):
        steady.fit_mediapipe(i / FPS, *frame)
        interrupted.fit_mediapipe(i / FPS, *frame)
    bad = interrupted.fit_mediapipe(stamp, landmarks, visibility)
    assert not bad.valid and bad.reason is reason
    assert np.isnan(bad.joints).all() and np.isnan(bad.body_pose).all() and np.isnan(bad.global_orient).all()
    stamp_last = (len(frames) - 1) / FPS
    expected = steady.fit_mediapipe(stamp_last, *frames[-1])
    resumed = interrupted.fit_mediapipe(stamp_last, *frames[-1])
    assert resumed.valid
    np.testing.assert_array_equal(resumed.joints, expected.joints)


def test_torso_must_be_visible_and_hidden_legs_are_tolerated(model: SmplModel) -> None:
    global_orient, body_pose = random_pose(np.random.default_rng(13), prior_torso=True)
    joints = model.forward_kinematics(None, global_orient, body_pose).joints[:22]
    landmarks, visibility = synthesize_mediapipe_landmarks(model, None, global_orient, body_pose)
    fitter = SmplFitter(model, _plain())
    no_hips = visibility.copy()
    no_hips[[23, 24]] = 0.2  # below min_visibility
    assert fitter.fit_mediapipe(0.0, landmarks, no_hips).reason is FitFailure.TOO_FEW_LANDMARKS
    legs_hidden = visibility.copy()
    legs_hidden[25:] = 0.0
    landmarks[25:] = np.nan
    upper_body = fitter.fit_mediapipe(0.1, landmarks, legs_hidden)
    assert upper_body.valid
    upper = [0, 3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]
    assert _joint_errors(upper_body, joints)[upper].mean() < 5e-3


def test_a_fit_far_from_the_landmarks_is_reported(model: SmplModel) -> None:
    landmarks, visibility = synthesize_mediapipe_landmarks(model, None, np.zeros(3), np.zeros(69))
    landmarks[[15, 16]] *= 4.0  # wrists 2-3 m away: no body reaches them
    fit = SmplFitter(model, _plain()).fit_mediapipe(0.0, landmarks, visibility)
    assert not fit.valid and fit.reason is FitFailure.POOR_FIT and fit.residual > 0.08


def test_real_mediapipe_landmarks(test_data: Path, pose_model_path: Path) -> None:
    """MediaPipe on a real clip (a man dribbling, camera about level) through the project's pose estimator: every
    frame fits within a few centimetres, the shape calibrates, and the body comes out upright, head up."""
    cv2 = pytest.importorskip("cv2")
    from motionllm_ros.perception.pose import PoseEstimator

    capture = cv2.VideoCapture(str(test_data / "video" / "dribble_single_person.mp4"))
    fps = capture.get(cv2.CAP_PROP_FPS)
    fitter = SmplFitter()  # the built-in synthetic model, as when no SMPL file is configured
    fits = []
    with PoseEstimator(pose_model_path) as estimator:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            frame = estimator.process(np.ascontiguousarray(bgr[:, :, ::-1]), len(fits) / fps)
            assert frame.target is not None, frame.no_target
            fits.append(fitter.fit_mediapipe(frame.stamp, frame.target.world_landmarks, frame.target.visibility))
    assert len(fits) == 40 and all(fit.valid for fit in fits)
    assert fitter.calibrated
    assert np.median([fit.residual for fit in fits]) < 0.035  # measured 0.025 m
    joints = np.array([fit.joints for fit in fits])
    assert np.all(joints[:, 15, 1] > 0.2)  # head above the pelvis (0.28 m when he bends over the ball): y is up
    assert np.all(joints[:, [7, 8], 1] < -0.5)  # ankles below it


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="landmark_sigma"):
        FitterParams(landmark_sigma=0.0)
    with pytest.raises(ValueError, match="min_visibility"):
        FitterParams(min_visibility=1.5)
    with pytest.raises(ValueError, match="beta"):
        OneEuroParams(beta=-1.0)


# -- the One-Euro filter -------------------------------------------------------------------------------------------


def test_one_euro_without_speed_term_is_a_first_order_low_pass() -> None:
    """beta = 0: a fixed cutoff fc; a unit step after the first sample decays as (1 - a)^n, a = 1 / (1 + tau/dt),
    tau = 1 / (2 pi fc) (Casiez et al. 2012)."""
    cutoff, dt = 2.0, 0.05
    alpha = 1.0 / (1.0 + 1.0 / (2 * math.pi * cutoff * dt))
    smoother = OneEuroFilter(OneEuroParams(min_cutoff=cutoff, beta=0.0))
    assert smoother(0.0, np.zeros((2, 3)))[0, 0] == 0.0
    outputs = [smoother(n * dt, np.ones((2, 3)))[0, 0] for n in range(1, 6)]
    np.testing.assert_allclose(outputs, 1 - (1 - alpha) ** np.arange(1, 6))


def test_one_euro_follows_data_time_and_missing_rows() -> None:
    smoother = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=0.0, max_gap=0.5))
    smoother(0.0, np.zeros((2, 3)))
    out = smoother(0.1, np.ones((2, 3)), mask=np.array([True, False]))
    assert 0 < out[0, 0] < 1 and np.isnan(out[1]).all()  # the masked row is absent, its state kept
    out = smoother(0.2, np.ones((2, 3)))
    assert 0 < out[1, 0] < out[0, 0] < 1  # row 1 filters from its own last sample, 0.2 s ago
    assert smoother(0.9, np.full((2, 3), 5.0))[0, 0] == 5.0  # a gap longer than max_gap restarts
    assert smoother(0.1, np.full((2, 3), 7.0))[0, 0] == 7.0  # so does time going backwards (a replay loop)


def test_one_euro_follows_fast_motion_with_less_lag() -> None:
    """The speed term raises the cutoff: a ramp lags less with beta > 0 than without."""
    ramp = [np.full((1, 3), 2.0 * n / FPS) for n in range(30)]  # 2 m/s
    lag = {}
    for beta in (0.0, 4.0):
        smoother = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=beta))
        last = [smoother(n / FPS, value) for n, value in enumerate(ramp)][-1]
        lag[beta] = ramp[-1][0, 0] - last[0, 0]
    assert 0 < lag[4.0] < 0.5 * lag[0.0]


# -- benchmark -----------------------------------------------------------------------------------------------------


def test_benchmark_reports_both_fitters() -> None:
    pytest.importorskip("smplx")
    result = run_fit_benchmark(n_frames=3)
    assert result["frames"] == 3
    for name in ("ours", "baseline"):
        assert result[name]["median_ms"] > 0 and result[name]["p95_ms"] >= result[name]["median_ms"]
    assert result["ours"]["mean_error_m"] < 1e-3
    assert result["baseline"]["frames_not_converged"] == 0
    assert result["baseline"]["mean_error_m"] <= max(result["ours"]["mean_error_m"], 1e-3) + 1e-9
