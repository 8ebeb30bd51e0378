"""Behaviour primitives without weights: what one person's joints did during a window, as labels and a sentence.

Input is the target person's 22 HumanML3D/SMPL joints over a window (`PersonFrame.joints` stacked, or a HumanML3D
`new_joints` clip). Everything is kinematics: heights above the floor and distances in units of the person's own
leg or arm length (so a child and a tall adult get the same posture), angles of the torso, thighs and arms,
velocities of the pelvis, and the frequency of the wrist's oscillation for waving.

Frames
    camera-centred (the perception output): camera at the origin, x to the camera's right, y up against gravity,
    z towards the camera (a person in front of it has z < 0). Approaching / leaving the camera are judged only
    here; pass `camera_centred=False` for HumanML3D-style joints (floor at y = 0, no camera), where they cannot be.
    The floor is never assumed to be at a known height: it is the lowest joint over a short sliding window.

Scores
    Every label's score is the fuzzy AND (minimum) of ramps, one per condition: a ramp is 0 below its `lo`, 1 above
    its `hi` and linear between, so its midpoint is the decision threshold and a label is given when its score is
    at least 0.5. The (lo, hi) pairs are the fields of `PrimitiveParams`.

Sides are the person's own: "right arm" is the SMPL right arm, whichever side of the image it is on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from motionllm_ros.perception.egomotion import rotation_angle_deg
from motionllm_ros.perception.skeleton import HUMANML3D_NUM_JOINTS

Ramp = tuple[float, float]  # (lo, hi): score 0 at lo, 1 at hi, linear between; lo > hi means "smaller is better"

# HumanML3D / SMPL joint indices used here.
PELVIS, L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE, L_FOOT, R_FOOT, NECK, HEAD = 0, 1, 2, 4, 5, 7, 8, 10, 11, 12, 15
ARM_JOINTS = {"left": (16, 18, 20), "right": (17, 19, 21)}  # shoulder, elbow, wrist
FOREARM_JOINTS = {"left": [18, 20], "right": [19, 21]}  # may be NaN (occluded) in an otherwise seen frame
LEG_JOINTS = [L_KNEE, R_KNEE, L_ANKLE, R_ANKLE, L_FOOT, R_FOOT]  # may be NaN (out of view): no posture there
BODY_JOINTS = [k for k in range(18) if k not in LEG_JOINTS]  # pelvis, hips, spine, neck, head, shoulders:
# must be seen for a frame to count
TORSO_TO_LEG = 1.6  # leg length / pelvis-neck length on the SMPL skeleton: the body size when no leg is seen
SIDES = ("left", "right")

POSTURES = ("standing", "sitting", "squatting", "kneeling", "lying", "prone", "bending")
POSTURE_WORDS = {"standing": "standing", "sitting": "sitting", "squatting": "squatting", "kneeling": "kneeling",
                 "lying": "lying on the ground", "prone": "prone (push-up position)", "bending": "bending over"}


# Every label `describe_motion` can emit (see the `_add` calls below).
LABEL_VOCABULARY = frozenset(
    [*POSTURES, "still", "walking", "running", "approaching_camera", "leaving_camera", "turning_left",
     "turning_right", "both_arms_raised", "arm_overhead", "jumping", "falling", "exercising"]
    + ["reaching"]
    + [f"{side}_arm_raised" for side in SIDES] + [f"pointing_{side}_arm" for side in SIDES]
    + [f"waving_{side}_hand" for side in SIDES])


class PrimitiveInputError(ValueError):
    """stamps / joints that cannot describe a motion window; the message names the argument and its shape."""


@dataclass(frozen=True)
class PrimitiveParams:
    """Thresholds of every primitive, as ramps (see the module docstring). L: leg length (hip-knee-ankle), A: arm
    length (shoulder-elbow-wrist), both measured on the window itself; heights are above the estimated floor."""

    # Input handling
    resample_hz: float = 20.0  # analysis rate; HumanML3D's, and fast enough for 4 Hz waving (Nyquist 10 Hz)
    max_gap_s: float = 0.3  # interpolate over gaps up to this; longer gaps stay "not seen" (a fast fall is ~0.5 s)
    min_seen_s: float = 0.5  # less seen time than this is "not enough motion": nothing is judged from a glimpse
    # (a posture is clear in half a second; locomotion, turns and waves have their own, longer minimum spans)
    min_frames: int = 5  # nor from fewer valid input frames than this, whatever their spacing
    floor_window_s: float = 1.5  # floor = lowest joint within this centred window: longer than a jump's flight
    # (~0.5 s), short enough to follow a floor that seems to tilt when the camera pitch is slightly wrong
    velocity_span_s: float = 0.2  # central differences over this span: 1 cm joint noise -> ~0.07 m/s

    # Posture, per frame; a window gets every posture held long enough
    lying_tilt_deg: Ramp = (45.0, 60.0)  # pelvis->neck angle from vertical: a push-up plank is ~65-70, lying ~90
    lying_pelvis_height: Ramp = (0.75, 0.6)  # x L; bending over keeps the pelvis high (~1.0), a plank ~0.45
    facing_down: Ramp = (0.3, 0.6)  # -y component of the chest's normal: prone vs on the back or side
    kneeling_knee_height: Ramp = (0.22, 0.12)  # x L, lowest knee joint; the knee centre sits ~0.06 L above floor
    kneeling_hip_over_knee: Ramp = (0.2, 0.4)  # (hip - knee height) / thigh: thigh pointing down, not a long sit
    standing_pelvis_height: Ramp = (0.72, 0.84)  # x L; standing ~1.1, walking ~1.0, a chair ~0.55-0.7
    upright_tilt_deg: Ramp = (65.0, 50.0)  # torso tilt still compatible with standing, sitting or squatting
    seated_pelvis_height: Ramp = (0.95, 0.85)  # x L, below standing
    sitting_thigh_elevation_deg: Ramp = (45.0, 30.0)  # |thigh angle from horizontal|: flat on a seat or the floor
    sitting_pelvis_offset: Ramp = (0.25, 0.35)  # x L, horizontal pelvis-ankles distance: sitting ~0.4-1.0 (feet
    # ahead of the seat), squatting ~0.1-0.25 (weight over the feet)
    squat_pelvis_height: Ramp = (0.8, 0.7)  # x L; deep squat ~0.35, thighs parallel ~0.55
    squat_pelvis_offset: Ramp = (0.35, 0.25)  # x L, the mirror of sitting_pelvis_offset
    squat_knee_height: Ramp = (0.12, 0.22)  # x L: knees off the floor (else kneeling)
    posture_fraction: Ramp = (0.15, 0.35)  # share of the seen time a posture must hold to be reported
    posture_stretch_min_s: float = 0.5  # s: a posture reported in more than one stretch of a window (standing,
    # sitting down, standing again) is reported for each stretch at least this long; a shorter one is a transition
    posture_bridge_s: float = 1.5  # a posture seen on both sides of a stretch this short where the legs are out of
    # view holds through it (its span); sitting down and getting up again takes longer (~2-3 s)

    # Locomotion, per frame: pelvis velocity from a least-squares line over locomotion_span_s centred on the frame
    # (robust to jitter and gait sway); a label holds over its longest run of frames, at least locomotion_min_s
    locomotion_span_s: float = 1.0  # a gait cycle: the sway of each step averages out
    depth_span_s: float = 2.0  # camera-centred: the speed along the line of sight (the distance to the camera) is
    # the slope over this longer span. Monocular depth follows the fitted body's scale in the image, which swings
    # by ~10-20% (~0.5-0.9 m at 4-5 m) within a second as the pose changes (arms overhead, knees flexed); over one
    # gait cycle that reads as 0.5-1 m/s, over two seconds a swing averages out while a walk keeps its course. The
    # speed across the line of sight (the bearing's change times the distance) is measured over locomotion_span_s
    locomotion_min_s: float = 0.5  # shorter runs are noise of the pelvis depth estimate, not a walk
    still_min_s: float = 0.5  # a pause shorter than this (between steps, a hesitation) is not "still"; the speed
    # is itself a slope over locomotion_span_s (1 s), so a run this long means the body stayed put for ~1-1.5 s
    moving_speed: Ramp = (0.15, 0.35)  # m/s; "still" below, walking above (slow walking is ~0.5 m/s)
    running_speed: Ramp = (1.85, 2.15)  # m/s; brisk walking tops out near 2, jogging starts above
    step_length: float = 0.15  # x L: the feet's offset along the way of travel, either way, that counts as one
    # foot ahead (a walking step puts one ~0.3-0.4 L ahead of the other; a shuffle on the spot ~0.1 L)
    min_steps: int = 2  # walking / running: the foot ahead changes at least this often during the run (each
    # change is a step); a body that slides without stepping is the camera or the depth estimate
    upright_fraction: Ramp = (0.4, 0.6)  # walking / running need the person upright most of the window (a fall
    # or a crawl also moves the pelvis)
    radial_speed: Ramp = (0.2, 0.4)  # m/s towards (approaching) or away from (leaving) the camera
    radial_fraction: Ramp = (0.6, 0.8)  # radial / total speed: walking mostly along the line of sight (across
    # the view, off-centre, the distance changes too)

    # Turning: change of the body's facing direction (yaw, +: towards the person's left) while upright, over the
    # run of frames where the facing turns one way faster than turn_rate_dps (its span)
    turn_deg: Ramp = (35.0, 55.0)
    turn_average_s: float = 0.3  # facing smoothed over this much time (gait sway ~5 deg)
    turn_rate_dps: float = 30.0  # deg/s: slower drifts of the facing are not a turn (a 90 deg turn takes ~1 s)
    turn_hold_s: float = 0.3  # s: the new facing is seen held this long after the turn (else no turn)
    turn_max_step_deg: float = 40.0  # facing change between two 20 Hz frames above which the pose flipped
    # (front/back confusion of the pose model), not the body: such a run is not a turn

    # Arms (per side; frame scores, then held long enough in the window)
    raised_wrist_over_shoulder: Ramp = (0.15, 0.35)  # x A; a straight arm ~15 deg above horizontal -> 0.25
    raised_min_s: float = 0.3
    overhead_wrist_over_head: Ramp = (0.3, 0.5)  # x A above the head joint (its top is ~0.3 A higher)
    overhead_elevation_deg: Ramp = (35.0, 50.0)  # shoulder->wrist from horizontal: up, not out to the side (with
    # the wrist over the head this only rules out an elbow bent high out to the side; a shot's follow-through,
    # arm up and forward towards the basket, is at ~45-58 degrees)
    overhead_min_s: float = 0.15  # a serve or a throw has the hand overhead for only a few tenths of a second
    pointing_elbow_deg: Ramp = (140.0, 160.0)  # interior elbow angle: a pointing arm is straight
    pointing_elevation_low_deg: Ramp = (-35.0, -20.0)  # above the hanging arm (-90) and its walking swing
    pointing_elevation_high_deg: Ramp = (20.0, 5.0)  # below "raised" (~15 deg)
    pointing_min_s: float = 0.4  # held, not a swing passing through (a tennis forehand)

    # Waving: the wrist oscillates about the shoulder while the hand is up (at or above the shoulder, above the
    # elbow), over the longest such stretch
    wave_hand_up: float = -0.1  # x A, wrist height over the shoulder at which the hand counts as up
    wave_min_s: float = 0.8
    wave_band_hz: tuple[float, float] = (0.5, 4.0)  # people wave at ~1-3 Hz
    wave_amplitude: Ramp = (0.03, 0.07)  # x A, std of the wrist along its main direction (~0.1 A when waving)
    wave_periodicity: Ramp = (0.35, 0.65)  # share of that motion explained by one sinusoid at the peak frequency
    wave_cycles: Ramp = (1.2, 1.8)  # cycles seen: one back-and-forth is not a wave
    wave_vertical: Ramp = (0.8, 0.6)  # |vertical component| of the wrist's main direction of motion: a wave goes
    # side to side; a hand going up and down (a press, a lift) is not waving

    # Jumping: evidence of flight. Both feet off the floor and the pelvis above its standing height, rising
    # together, on a ballistic (free-fall) vertical trajectory with a plausible flight time; a bump in the hip
    # height or a foot lifted alone is not a jump
    jump_foot_clearance: Ramp = (0.06, 0.12)  # x L, lowest foot joint above the floor
    jump_pelvis_rise: Ramp = (0.1, 0.18)  # x L over the median upright pelvis height; running bobs ~0.06
    jump_min_s: float = 0.1
    jump_min_flight_s: float = 0.2  # s in the air, at least: a 5 cm hop (g T^2 / 8); a shorter "flight" rises
    # less than the monocular fit's own noise (a player on her toes at a set shot's release reads 0.15 s, 3 cm)
    jump_max_flight_s: float = 1.0  # s, at most: a 1 m high jump flies 0.9 s
    jump_gravity_mps2: Ramp = (4.0, 7.0)  # -(vertical acceleration of the pelvis in the air), m/s^2: 9.81 in free
    # fall; a hip moving up and down on the feet shows no steady downward acceleration
    jump_feet_with_pelvis: Ramp = (0.4, 0.7)  # rise of the lower foot / rise of the pelvis at the apex: both leave
    # the support together
    jump_max_speed: Ramp = (1.8, 1.2)  # m/s, the pelvis's horizontal speed in the flight: a running stride's
    # flight (both feet off, briefly) is running, not a jump
    jump_ballistic_misfit: Ramp = (0.9, 0.5)  # |ln(apex rise / (g T^2 / 8))|: a body in free fall for T seconds
    # rises g T^2 / 8; a 0.4 m "rise" in 0.25 s is a tracking error, not a jump

    # Bending: torso forward over the feet, pelvis high (not sitting, not lying)
    bending_tilt_deg: Ramp = (40.0, 50.0)  # pelvis->neck angle from vertical; standing < 45 deg (labels.yaml)
    bending_max_tilt_deg: Ramp = (100.0, 85.0)  # beyond horizontal the body is not bent over its feet

    # Reaching: a straight arm held out forward, towards a point in front of the chest
    reaching_elbow_deg: Ramp = (100.0, 120.0)  # interior elbow angle: extended (with the wrist well ahead of the
    # shoulder, see reaching_forward), not necessarily straight: a hand held out to another's is bent ~120-135
    reaching_forward: Ramp = (0.55, 0.7)  # x A, wrist ahead of the shoulder along the chest's facing direction
    reaching_elevation_low_deg: Ramp = (-50.0, -40.0)  # shoulder->wrist from horizontal: a hand held out low and
    reaching_elevation_high_deg: Ramp = (-10.0, -20.0)  # forward (to another's hand, to an object); a straight arm
    # held at shoulder height is pointing
    reaching_min_s: float = 0.25  # a hand held out to shake another's lasts ~0.5 s
    reaching_max_s: float = 0.6  # s: a reach is the movement out; an arm held out longer is holding, pointing or
    # shaking hands, and the reach is the first this-many seconds of it

    # Exercising: repetitions of one movement, counted with hysteresis (a repetition goes out past 70% of the
    # movement's range and back under 30%, or the reverse), on the signal of each exercise
    exercise_min_reps: int = 2  # one squat is sitting down and getting up
    exercise_min_rep_s: float = 0.5  # s per repetition, at least: a plausible pace
    exercise_max_rep_s: float = 8.0  # s per repetition, at most
    squat_range: Ramp = (0.2, 0.3)  # x L, pelvis height above the floor, feet on the floor, torso upright
    push_up_range: Ramp = (0.1, 0.15)  # x L, neck height, body horizontal (a push-up, or the cobra: hips down,
    # chest up)
    lift_range: Ramp = (0.5, 0.7)  # x A, wrists over the shoulders, torso upright

    # Falling: a fast drop of the pelvis that ends lying or prone
    fall_down_speed: Ramp = (0.8, 1.2)  # m/s peak downward pelvis speed; sitting or lying down carefully < 0.7
    fall_drop: Ramp = (0.3, 0.5)  # x L, pelvis height lost from before the drop to the end of the window
    fall_end_s: float = 0.5  # the end state: the last this-many seconds seen
    fall_end_lying: Ramp = (0.4, 0.6)  # share of the end state spent lying or prone

    def __post_init__(self) -> None:
        if not (self.resample_hz > 0 and self.max_gap_s > 0 and self.min_seen_s > 0 and self.min_frames >= 2):
            raise ValueError(f"PrimitiveParams: rates, gaps and minimum lengths must be positive, got {self}")


@dataclass(frozen=True)
class PrimitiveResult:
    """The primitives of one window. `labels` highest score first; `details` hold the numbers behind them."""

    labels: tuple[str, ...]  # lower_snake_case, e.g. ("walking", "approaching_camera", "waving_right_hand")
    scores: tuple[float, ...]  # in [0.5, 1], same order as labels
    description: str  # one plain English sentence
    enough_motion: bool  # False: the window was too short or too sparsely seen; labels are empty
    details: dict[str, float | str] = field(default_factory=dict)  # e.g. speed_mps, heading_deg, wave_hz_right
    spans: tuple[tuple[float, float], ...] = ()  # (start, end) s, data time, same order as labels: where each
    # label held, inside the window

    @property
    def confidence(self) -> float:
        """Trust in the description (BehaviorDescription.confidence): the highest label score, 0 without labels."""
        return max(self.scores, default=0.0)


def ramp(value: np.ndarray | float, limits: Ramp) -> np.ndarray:
    """Score in [0, 1] of `value` against (lo, hi); NaN stays NaN."""
    lo, hi = limits
    return np.clip((np.asarray(value, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)


def describe_motion(stamps: np.ndarray, joints: np.ndarray, params: PrimitiveParams = PrimitiveParams(), *,
                    camera_centred: bool = True, camera_rotations: np.ndarray | None = None,
                    ego_motion: str = "none") -> PrimitiveResult:
    """Labels, scores, numbers and a sentence for one window of one person.

    stamps: (T,) seconds, data time, any order and spacing; joints: (T, 22, 3) metres, y up (see the module
    docstring for the frames). Frames with a NaN in the body (joints 0-17, up to the shoulders) or a non-finite
    stamp are "not seen"; a NaN elbow or wrist (an occluded forearm) only leaves that arm's states unjudged in the
    frame. Raises PrimitiveInputError for arrays of the wrong shape, or a degenerate skeleton (zero leg length).

    Ego-motion: camera_rotations (T, 3, 3) takes each frame's camera frame into one fixed to the world (the
    camera's own rotation, from the image or from TF: `ego_motion` says which, for the details); the joints are
    turned by it about the camera centre before anything is judged, so a pan or a tilt is not taken for the
    person's motion. A NaN rotation: the camera's motion is unknown there, and locomotion, turning, approaching /
    leaving and jumps are not judged in this window (no label rather than a guess). None: the camera is still.
    """
    stamps, joints = _validated(stamps, joints)
    camera_known = True
    if camera_rotations is not None:
        camera_rotations = np.asarray(camera_rotations, dtype=np.float64)
        if camera_rotations.shape != (len(stamps), 3, 3):
            raise PrimitiveInputError(f"camera_rotations must have shape ({len(stamps)}, 3, 3), got "
                                      f"{camera_rotations.shape}")
        camera_known = bool(np.all(np.isfinite(camera_rotations)))
        if camera_known:
            joints = np.einsum("tij,tkj->tki", camera_rotations, joints)  # R @ joint, frame by frame
    finite = np.isfinite(stamps)
    stamps, joints = stamps[finite], joints[finite]
    order = np.argsort(stamps, kind="stable")
    stamps, keep = np.unique(stamps[order], return_index=True)  # a repeated stamp: its first frame
    joints = joints[order][keep]
    body_seen = np.all(np.isfinite(joints[:, BODY_JOINTS]), axis=(1, 2))
    grid, dt = _resample(stamps[body_seen], joints[body_seen], params)
    for part in [*FOREARM_JOINTS.values(), LEG_JOINTS]:  # an occluded forearm or legs out of view leave the
        part_seen = body_seen & np.all(np.isfinite(joints[:, part]), axis=(1, 2))  # rest of the body usable
        part_grid, _ = _resample(stamps[part_seen], joints[part_seen], params, len(grid), stamps[body_seen][:1])
        grid[:, part] = part_grid[:, part]
    stamps = stamps[body_seen]
    seen_s = float(np.sum(np.all(np.isfinite(grid[:, BODY_JOINTS]), axis=(1, 2)))) * dt
    details: dict[str, float | str] = {"seen_s": round(seen_s, 3), "frames": len(stamps),
                                       "ego_motion": ego_motion if camera_known else "none"}
    if camera_rotations is not None and camera_known:
        details["camera_rotation_deg"] = round(rotation_angle_deg(camera_rotations[0].T @ camera_rotations[-1]), 2)
    if len(stamps) < params.min_frames or seen_s < params.min_seen_s:
        text = f"not enough motion to describe: the person was seen for {seen_s:.1f} s in {len(stamps)} frames"
        return PrimitiveResult((), (), text, False, details)
    return _Window(grid, dt, params, camera_centred, details, float(stamps[0]), camera_known).result()


def _validated(stamps: np.ndarray, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    stamps = np.asarray(stamps, dtype=np.float64)
    joints = np.asarray(joints, dtype=np.float64)
    if stamps.ndim != 1:
        raise PrimitiveInputError(f"stamps must have shape (T,), got {stamps.shape}")
    if joints.ndim != 3 or joints.shape[1:] != (HUMANML3D_NUM_JOINTS, 3) or len(joints) != len(stamps):
        raise PrimitiveInputError(
            f"joints must have shape (T, {HUMANML3D_NUM_JOINTS}, 3) with T = len(stamps) = {len(stamps)}, "
            f"got {joints.shape}")
    return stamps, joints


def _resample(stamps: np.ndarray, joints: np.ndarray, params: PrimitiveParams, size: int | None = None,
              start: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Seen frames (sorted, unique stamps) -> (N, 22, 3) on a uniform grid in data time from `start` (default the
    first stamp; N = size, default up to the last stamp), linear between frames at most max_gap_s apart, NaN across
    longer gaps and outside the frames; and the grid step in seconds."""
    dt = 1.0 / params.resample_hz
    if size is None:
        size = math.floor((stamps[-1] - stamps[0]) / dt + 1e-9) + 1 if len(stamps) else 0
    out = np.full((size, HUMANML3D_NUM_JOINTS, 3), np.nan)
    if len(stamps) == 0 or size == 0:
        return out, dt
    first = float(start[0]) if start is not None and len(start) else float(stamps[0])
    times = first + dt * np.arange(size)
    right = np.clip(np.searchsorted(stamps, times - 1e-9, side="left"), 0, len(stamps) - 1)
    exact = np.abs(stamps[right] - times) < 1e-9
    left = np.where(exact, right, np.clip(right - 1, 0, None))
    gap = stamps[right] - stamps[left]
    weight = np.where(gap > 0, (times - stamps[left]) / np.where(gap > 0, gap, 1.0), 0.0)
    inside = (times >= stamps[0] - 1e-9) & (times <= stamps[-1] + 1e-9) & (gap <= params.max_gap_s) & (
        exact | (gap > 0))
    out[inside] = (joints[left] * (1.0 - weight)[:, None, None] + joints[right] * weight[:, None, None])[inside]
    return out, dt


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index ranges of the True runs of a boolean array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _hysteresis_changes(values: np.ndarray, lo: float, hi: float) -> list[int]:
    """Indices where values (n,) cross from under lo to over hi or back (the first crossing of each kind)."""
    changes, state = [], 0  # 0: not yet out of the middle band; -1: low; +1: high
    for k, value in enumerate(values):
        now = -1 if value < lo else 1 if value > hi else state
        if state and now != state:
            changes.append(k)
        state = now
    return changes


def _least_squares_slope(times: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Slope of a straight line fitted to values (N, ...) over times (N,), per trailing component."""
    centred = times - times.mean()
    return np.tensordot(centred, values - values.mean(axis=0), axes=(0, 0)) / np.sum(centred * centred)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle between vectors (..., 3), degrees."""
    cos = np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _elevation_deg(vector: np.ndarray) -> np.ndarray:
    """Angle of vectors (..., 3) above the horizontal plane, degrees (-90: straight down)."""
    return np.degrees(np.arcsin(np.clip(vector[..., 1] / np.linalg.norm(vector, axis=-1), -1.0, 1.0)))


class _Window:
    """The analysis of one resampled window: per-frame features, then one method per group of primitives."""

    def __init__(self, grid: np.ndarray, dt: float, params: PrimitiveParams, camera_centred: bool,
                 details: dict[str, float | str], start: float, camera_known: bool = True):
        self.p, self.dt, self.camera_centred, self.details = params, dt, camera_centred, details
        self.camera_known = camera_known  # False: what depends on the camera's motion is not judged
        self.start = start  # s, data time of grid frame 0
        self.seen = np.all(np.isfinite(grid[:, BODY_JOINTS]), axis=(1, 2))  # (N,)
        self.j = grid[self.seen]  # (M, 22, 3) seen frames only; self.t their times from the window start
        self.t = np.flatnonzero(self.seen) * dt  # (M,) seconds
        self.grid_index = np.flatnonzero(self.seen)  # of each seen frame: gaps break velocities and runs
        j = self.j
        # Posture, locomotion, turns, jumps and falls are judged only where the legs are seen.
        self.legs_seen = np.all(np.isfinite(j[:, LEG_JOINTS]), axis=(1, 2))  # (M,)
        thigh = np.linalg.norm(j[:, [L_KNEE, R_KNEE]] - j[:, [L_HIP, R_HIP]], axis=-1)  # (M, 2)
        shin = np.linalg.norm(j[:, [L_ANKLE, R_ANKLE]] - j[:, [L_KNEE, R_KNEE]], axis=-1)
        # metres; the body size every posture is measured in
        self.leg = float(np.median((thigh + shin)[self.legs_seen])) if self.legs_seen.any() else TORSO_TO_LEG * float(
            np.median(np.linalg.norm(j[:, NECK] - j[:, PELVIS], axis=-1)))
        if not self.leg > 0.05:
            raise PrimitiveInputError(f"joints: leg length (hip-knee-ankle) is {self.leg:.3f} m, not a body")
        self.thigh = thigh
        arms = [np.linalg.norm(j[:, e] - j[:, s], axis=-1) + np.linalg.norm(j[:, w] - j[:, e], axis=-1)
                for s, e, w in ARM_JOINTS.values()]
        # Both forearms unseen all window: the usual arm / leg ratio (0.64 on the HumanML3D skeleton).
        self.arm = float(np.nanmedian(np.stack(arms))) if np.any(np.isfinite(arms)) else 0.64 * self.leg
        self.floor = self._floor()  # (M,) metres, y of the floor under the person
        self.posture_scores = self._posture_scores()  # (M, len(POSTURES))
        best = np.argmax(self.posture_scores, axis=1)
        self.posture = np.where(self.posture_scores[np.arange(len(best)), best] >= 0.5, best, -1)  # (M,) or -1
        self.labels: dict[str, float] = {}
        self.spans: dict[str, tuple[float, float]] = {}  # label -> (start, end) s from grid frame 0, its longest
        # stretch; a label that held in several separate stretches of the window has the others here, each reported:
        self.more: dict[str, list[tuple[float, tuple[float, float]]]] = {}  # label -> [(score, (start, end) s)]
        details.update(leg_length_m=round(self.leg, 3), arm_length_m=round(self.arm, 3),
                       legs_seen_s=round(float(self.legs_seen.sum()) * dt, 3))

    # -------------------------------------------------------------------------------------------- per frame
    def _floor(self) -> np.ndarray:
        lowest = np.full(len(self.seen), np.inf)  # where no leg is seen, the lowest joint is not on the floor
        lowest[self.seen] = np.where(self.legs_seen, np.nanmin(self.j[:, :, 1], axis=1), np.inf)
        half = max(1, round(self.p.floor_window_s / 2 / self.dt))
        padded = np.pad(lowest, half, constant_values=np.inf)
        rolling = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1).min(axis=1)
        return rolling[self.seen]

    def _posture_scores(self) -> np.ndarray:
        p, j, leg = self.p, self.j, self.leg
        up = np.array([0.0, 1.0, 0.0])
        spine = j[:, NECK] - j[:, PELVIS]
        tilt = _angle_deg(spine, up)
        across = (j[:, L_HIP] - j[:, R_HIP]) + (j[:, 16] - j[:, 17])  # towards the person's left
        chest = np.cross(across, spine)  # the way the chest faces (SMPL: left +x, up +y -> forward +z)
        chest /= np.linalg.norm(chest, axis=-1, keepdims=True)
        self.chest = chest
        self.tilt = tilt
        # Pointing is judged on an upright torso: lying, the arms at the sides are also straight and horizontal.
        self.upright_torso = ramp(tilt, p.upright_tilt_deg)
        height = (j[:, :, 1] - self.floor[:, None]) / leg  # (M, 22) x L above the floor
        pelvis_h = height[:, PELVIS]
        knee_h = height[:, [L_KNEE, R_KNEE]]
        low_knee = np.argmin(knee_h, axis=1)
        rows = np.arange(len(j))
        hip_over_knee = (height[:, [L_HIP, R_HIP]][rows, low_knee] - knee_h[rows, low_knee]) * leg / np.maximum(
            self.thigh[rows, low_knee], 1e-6)
        thigh_elevation = np.abs(_elevation_deg(j[:, [L_KNEE, R_KNEE]] - j[:, [L_HIP, R_HIP]])).mean(axis=1)
        ankles = j[:, [L_ANKLE, R_ANKLE]].mean(axis=1)
        offset = np.linalg.norm((j[:, PELVIS] - ankles)[:, [0, 2]], axis=1) / leg

        horizontal = ramp(tilt, p.lying_tilt_deg)
        low = ramp(pelvis_h, p.lying_pelvis_height)
        down = ramp(-chest[:, 1], p.facing_down)
        upright = ramp(tilt, p.upright_tilt_deg)
        knee_down = ramp(knee_h.min(axis=1), p.kneeling_knee_height)
        bent = ramp(tilt, p.bending_tilt_deg)
        on_feet = ramp(pelvis_h, p.standing_pelvis_height)
        scores = {
            "standing": np.minimum.reduce([on_feet, upright, 1.0 - bent]),
            "bending": np.minimum.reduce([on_feet, bent, ramp(tilt, p.bending_max_tilt_deg)]),
            "sitting": np.minimum.reduce([upright, ramp(pelvis_h, p.seated_pelvis_height),
                                          ramp(thigh_elevation, p.sitting_thigh_elevation_deg),
                                          ramp(offset, p.sitting_pelvis_offset), 1.0 - knee_down
                                          * ramp(hip_over_knee, p.kneeling_hip_over_knee)]),
            "squatting": np.minimum.reduce([upright, ramp(pelvis_h, p.squat_pelvis_height),
                                            ramp(offset, p.squat_pelvis_offset),
                                            ramp(knee_h.min(axis=1), p.squat_knee_height)]),
            "kneeling": np.minimum.reduce([upright, knee_down, ramp(hip_over_knee, p.kneeling_hip_over_knee)]),
            "lying": np.minimum.reduce([horizontal, low, 1.0 - down]),
            "prone": np.minimum.reduce([horizontal, low, down]),
        }
        return np.where(self.legs_seen[:, None], np.nan_to_num(np.stack([scores[name] for name in POSTURES], axis=1)),
                        0.0)

    def _velocity(self, values: np.ndarray) -> np.ndarray:
        """d values / dt (M,) by central differences over velocity_span_s within unbroken stretches of seen
        frames; NaN where the span does not fit."""
        half = max(1, round(self.p.velocity_span_s / 2 / self.dt))
        out = np.full(values.shape, np.nan)
        breaks = np.flatnonzero(np.diff(self.grid_index) != 1) + 1
        for start, stop in zip(np.concatenate([[0], breaks]), np.concatenate([breaks, [len(values)]])):
            lo, hi = start + half, stop - half
            if hi > lo:
                out[lo:hi] = (values[lo + half:hi + half] - values[lo - half:hi - half]) / (2 * half * self.dt)
        return out

    def _stretches(self, mask: np.ndarray) -> list[tuple[int, int]]:
        """[start, stop) ranges of seen frames (M,) where mask holds without a break in time."""
        on_grid = np.zeros(len(self.seen), dtype=bool)
        on_grid[self.grid_index] = mask
        return [(int(np.searchsorted(self.grid_index, a)), int(np.searchsorted(self.grid_index, b)))
                for a, b in _runs(on_grid)]

    # ------------------------------------------------------------------------------------------- primitives
    def result(self) -> PrimitiveResult:
        self._postures()
        self.upright = self.posture_scores[:, POSTURES.index("standing")] >= 0.5
        if self.camera_known:
            self._locomotion()
            self._turning()
        else:
            self.details["locomotion"] = "not judged: the camera's motion is unknown"
        self._arms()
        if self.camera_known:
            self._jumping()
        self._falling()
        self._exercising()
        stretches = [(name, score, self.spans[name]) for name, score in self.labels.items()] + [
            (name, score, span) for name in self.labels for score, span in self.more.get(name, ())]
        ranked = sorted(stretches, key=lambda item: (-item[1], item[0], item[2]))
        spans = tuple((round(self.start + span[0], 3), round(self.start + span[1], 3)) for _, _, span in ranked)
        return PrimitiveResult(tuple(name for name, _, _ in ranked), tuple(round(float(s), 3) for _, s, _ in ranked),
                               self._sentence(), True, self.details, spans)

    def _add(self, label: str, score: float, held: np.ndarray | None = None) -> None:
        """Gives `label` when score >= 0.5, over the span from the first to the last seen frame where `held`
        (M,) is True (default: the whole window seen)."""
        if score >= 0.5:
            self.labels[label] = float(score)
            self.spans[label] = self._span(held)

    def _span(self, held: np.ndarray | None) -> tuple[float, float]:
        """(start, end) s from grid frame 0 of the seen frames where held (M,) is True: first frame to last
        frame + one step (a frame stands for dt of time), never past the last frame seen (the window's end)."""
        index = np.arange(len(self.t)) if held is None or not held.any() else np.flatnonzero(held)
        return float(self.t[index[0]]), float(min(self.t[index[-1]] + self.dt, self.t[-1]))

    def _postures(self) -> None:
        self.posture_order: list[str] = []  # reported postures in the order they first appear
        first_seen = {}
        for k, name in enumerate(POSTURES):
            held = self.posture == k
            fraction = held.mean()
            if not held.any():
                continue
            score = min(float(self.posture_scores[held, k].mean()), float(ramp(fraction, self.p.posture_fraction)))
            if score >= 0.5:
                stretches = sorted(self._stretches(self._bridged(held)), key=lambda r: r[0] - r[1])  # longest first
                self._add(name, score, self._frames(stretches[0]))
                self._add_more(name, [(score, run) for run in stretches[1:]
                                      if (run[1] - run[0]) * self.dt >= self.p.posture_stretch_min_s - 1e-9])
                first_seen[name] = int(np.argmax(held))
        self.posture_order = sorted(first_seen, key=first_seen.get)
        end = self.t >= self.t[-1] - self.p.fall_end_s
        end_postures = self.posture[end]
        known = end_postures[end_postures >= 0]
        self.details["posture_end"] = POSTURES[int(np.bincount(known).argmax())] if known.size else "unknown"

    def _bridged(self, held: np.ndarray) -> np.ndarray:
        """(M,) bool: `held` (a posture's frames) also over each stretch of at most posture_bridge_s where the legs
        are out of view, between two frames where it holds: no other posture was seen there, and the legs cannot
        leave a posture and come back to it unseen in so short a time. And over each break of it, seen, shorter
        than posture_stretch_min_s: a flicker of the scores at a boundary (a tilt at 45 deg, standing / bending),
        not a posture left and taken again."""
        out = held.copy()
        for a, b in self._stretches(~self.legs_seen):
            if 0 < a and b < len(held) and held[a - 1] and held[b] and (
                    self.grid_index[b] - self.grid_index[a - 1] - 1) * self.dt <= self.p.posture_bridge_s + 1e-9:
                out[a:b] = True
        for a, b in self._stretches(~out):
            if 0 < a and b < len(held) and out[a - 1] and out[b] and self._unbroken_between(a - 1, b) and (
                    b - a) * self.dt < self.p.posture_stretch_min_s - 1e-9:
                out[a:b] = True
        return out

    def _locomotion(self) -> None:
        p = self.p
        pelvis = self.j[:, PELVIS]
        velocity = self._ground_velocity(pelvis[:, [0, 2]])  # (M, 2) (vx, vz) m/s
        speed = np.linalg.norm(velocity, axis=1)  # (M,) NaN where the span does not fit
        self.speed = speed
        # Walking and running are judged on the upright frames only: a fall or a crawl also moves the pelvis.
        known = np.isfinite(speed)
        moving = np.where(known, ramp(speed, p.moving_speed), np.nan)
        running = np.where(known, ramp(speed, p.running_speed), np.nan)
        still_run = self._add_run("still", np.where(known & self.legs_seen, 1.0 - moving, 0.0), p.still_min_s,
                                  every=True)
        # Upright over the whole span the speed was measured on: the start of a fall moves an upright pelvis.
        upright = self._local_mean(self.upright.astype(float), p.locomotion_span_s) > 0.99
        walking = np.where(upright, np.minimum(moving, 1.0 - running), 0.0)
        walk_run = self._add_run("walking", np.nan_to_num(walking), p.locomotion_min_s, self._stepping(velocity),
                                 every=True)
        run_run = self._add_run("running", np.nan_to_num(np.where(upright, running, 0.0)), p.locomotion_min_s,
                                self._stepping(velocity), every=True)
        gait = walk_run if run_run is None else run_run
        mean_velocity = np.nanmean(velocity[gait[0]:gait[1]], axis=0) if gait else np.zeros(2)
        # heading: 0 = along -z (away from the camera, into the scene), +90 = +x (the camera's right)
        self.details.update(speed_mps=round(float(np.linalg.norm(mean_velocity)), 3),
                            heading_deg=round(math.degrees(math.atan2(mean_velocity[0], -mean_velocity[1])), 1))
        if still_run is None and gait is None:
            self.details["locomotion"] = "not judged: no steady stretch of frames"
        if not self.camera_centred:
            self.details["radial_speed_mps"] = "not judged: no camera in this frame"
            return
        if not gait:
            self.details["radial_speed_mps"] = 0.0
            return
        # Over the walk: the slope of the distance to the camera, against the walking speed.
        held = np.zeros(len(self.t), bool)
        held[gait[0]:gait[1]] = True
        radial = float(_least_squares_slope(self.t[held], np.linalg.norm(pelvis[held][:, [0, 2]], axis=1)))
        along = abs(radial) / max(float(np.linalg.norm(mean_velocity)), 1e-6)
        self.details["radial_speed_mps"] = round(radial, 3)
        # Only for locomotion: a fall or a lean towards the camera is not "approaching" it.
        for label, sign in (("approaching_camera", -1.0), ("leaving_camera", 1.0)):
            self._add(label, min(float(ramp(sign * radial, p.radial_speed)), float(ramp(along, p.radial_fraction)),
                                 self.labels["running" if "running" in self.labels else "walking"]), held)

    def _ground_velocity(self, xz: np.ndarray) -> np.ndarray:
        """(M, 2) pelvis (x, z) metres -> (M, 2) its velocity (vx, vz) m/s, NaN where the span does not fit.
        Camera-centred: across the line of sight from the bearing over locomotion_span_s (the image position,
        robust to the depth's noise), along it from the distance over depth_span_s (see PrimitiveParams)."""
        if not self.camera_centred:
            return self._local_slope(xz, self.p.locomotion_span_s)
        distance = np.linalg.norm(xz, axis=1)  # (M,) m from the camera, on the ground plane
        bearing = np.unwrap(np.arctan2(xz[:, 0], xz[:, 1]))  # (M,) rad: xz = distance * (sin, cos)(bearing)
        across = self._local_slope(bearing[:, None], self.p.locomotion_span_s)[:, 0] * self._local_mean(
            distance, self.p.locomotion_span_s)  # (M,) m/s, towards increasing bearing
        along = self._local_slope(distance[:, None], self.p.depth_span_s)[:, 0]  # (M,) m/s, away from the camera
        ray = np.stack([np.sin(bearing), np.cos(bearing)], axis=1)  # (M, 2) unit, away from the camera
        side = np.stack([np.cos(bearing), -np.sin(bearing)], axis=1)  # (M, 2) unit, d ray / d bearing
        return across[:, None] * side + along[:, None] * ray

    def _stepping(self, velocity: np.ndarray) -> Callable[[int, int], bool]:
        """A test of a run [start, stop): do the feet step during it? The ankles' offset along the way of travel
        (velocity (M, 2) xz), about its median over the run, must change sign, beyond step_length either way, at
        least min_steps times."""
        def steps(start: int, stop: int) -> bool:
            way = np.nanmean(velocity[start:stop], axis=0)
            if not np.all(np.isfinite(way)) or not np.linalg.norm(way) > 0:
                return False
            ahead = (self.j[start:stop, L_ANKLE][:, [0, 2]] - self.j[start:stop, R_ANKLE][:, [0, 2]]) @ (
                way / np.linalg.norm(way)) / self.leg  # (n,) x L: + left foot ahead
            # Stepping, each foot is ahead in turn about a middle; an offset that stays (a staggered stance, or
            # the monocular fit placing one ankle deeper than the other) is no step: measured from the median.
            ahead = ahead - np.nanmedian(ahead)
            side = np.sign(ahead[np.abs(ahead) >= self.p.step_length])
            return int(np.sum(side[1:] != side[:-1])) >= self.p.min_steps
        return steps

    def _turning(self) -> None:
        p = self.p
        upright = (self.tilt < 45.0) & self.legs_seen  # the chest's facing means nothing lying; turning is
        # locomotion, judged where the legs are seen
        if upright.sum() < 2:
            return
        yaw = np.full(len(self.t), np.nan)  # (M,) degrees, + towards the person's left (counter-clockwise from above)
        yaw[upright] = np.degrees(np.unwrap(np.arctan2(self.chest[upright, 0], self.chest[upright, 2])))
        flips = np.abs(np.diff(yaw)) > p.turn_max_step_deg  # (M-1,) the pose flipped, the body did not
        smooth = self._local_mean(yaw, p.turn_average_s)
        rate = self._local_slope(smooth[:, None], p.turn_average_s)[:, 0]  # (M,) deg/s
        best = (0.0, None)
        for sign in (1.0, -1.0):
            for a, b in self._stretches(np.nan_to_num(sign * rate) > p.turn_rate_dps):
                a, b = max(a - 1, 0), min(b + 1, len(yaw))  # the rate is a centred difference: one frame each side
                if np.any(flips[a:max(b - 1, a)]):
                    continue
                turn = float(np.nanmax(smooth[a:b]) - np.nanmin(smooth[a:b])) * sign
                if not self._facing_kept(smooth, b - 1, turn):
                    continue
                if abs(turn) > abs(best[0]):
                    best = (turn, (a, b))
        turn, run = best
        self.details["turn_deg"] = round(turn, 1)
        if run is None:
            return
        held = np.zeros(len(yaw), bool)
        held[run[0]:run[1]] = True
        self._add("turning_left", float(ramp(turn, p.turn_deg)), held)
        self._add("turning_right", float(ramp(-turn, p.turn_deg)), held)

    def _facing_kept(self, facing: np.ndarray, end: int, turn: float) -> bool:
        """Whether the facing (M,) degrees reached at frame `end` by a turn of `turn` degrees is kept: seen upright
        without a break for turn_hold_s after it, never back by half the turn. A turn still under way where the
        track or the window ends (a fit that swings as the person goes behind another), or swung back at once, is
        not judged; a real one at a window's end lies whole in the next window."""
        hold = round(self.p.turn_hold_s / self.dt)
        if end + hold >= len(facing) or not self._unbroken_between(end, end + hold):
            return False
        after = facing[end:end + hold + 1]
        return bool(np.all(np.isfinite(after)) and np.all(np.sign(turn) * (after - facing[end]) > -abs(turn) / 2))

    def _local_slope(self, values: np.ndarray, span_s: float) -> np.ndarray:
        """(M, C) -> (M, C): slope per second of a least-squares line through the seen frames within span_s / 2 of
        each frame, inside its unbroken stretch (near the stretch's ends: over what is left of the span, at least
        half of it); NaN where less than that is seen."""
        half = max(1, round(span_s / 2 / self.dt))
        out = np.full(values.shape, np.nan)
        for start, stop in self._unbroken():
            for k in range(start, stop):
                lo, hi = max(start, k - half), min(stop, k + half + 1)
                if hi - lo > half and np.all(np.isfinite(values[lo:hi])):
                    out[k] = _least_squares_slope(self.t[lo:hi], values[lo:hi])
        return out

    def _local_mean(self, values: np.ndarray, span_s: float) -> np.ndarray:
        """(M,) -> (M,): mean over the seen frames within span_s / 2 of each frame, inside its unbroken stretch."""
        half = max(1, round(span_s / 2 / self.dt))
        out = np.full(values.shape, np.nan)
        for start, stop in self._unbroken():
            for k in range(start, stop):
                out[k] = np.nanmean(values[max(start, k - half):min(stop, k + half + 1)]) if np.any(
                    np.isfinite(values[max(start, k - half):min(stop, k + half + 1)])) else np.nan
        return out

    def _unbroken_between(self, first: int, last: int) -> bool:
        """Whether the seen frames first..last (indices into M) follow each other on the grid, without a break."""
        return bool(self.grid_index[last] - self.grid_index[first] == last - first)

    def _unbroken(self) -> list[tuple[int, int]]:
        """[start, stop) ranges of seen frames without a break in time."""
        breaks = np.flatnonzero(np.diff(self.grid_index) != 1) + 1
        return list(zip(np.concatenate([[0], breaks]).tolist(), np.concatenate([breaks, [len(self.t)]]).tolist()))

    def _frames(self, run: tuple[int, int]) -> np.ndarray:
        """(M,) bool: True over the run [start, stop) of seen frames."""
        out = np.zeros(len(self.t), bool)
        out[run[0]:run[1]] = True
        return out

    def _add_more(self, label: str, stretches: list[tuple[float, tuple[int, int]]]) -> None:
        """Reports `label`, already given over its longest stretch, over each other (score, run) as well."""
        if label in self.labels and stretches:
            self.more[label] = [(score, self._span(self._frames(run))) for score, run in stretches]

    def _add_run(self, label: str, frame_scores: np.ndarray, min_s: float,
                 accept: Callable[[int, int], bool] | None = None, every: bool = False) -> tuple[int, int] | None:
        """Gives `label` over the longest unbroken run of frames with a score >= 0.5 that lasts min_s (and that
        `accept(start, stop)` agrees to); its score is the mean over the run. `every`: each other such run is
        reported too (a state held, broken, held again). Returns the longest run [start, stop), or None."""
        runs = [run for run in sorted(self._stretches(frame_scores >= 0.5), key=lambda r: r[0] - r[1])
                if (run[1] - run[0]) * self.dt >= min_s - 1e-9]
        runs = [run for run in (runs if every else runs[:1]) if accept is None or accept(*run)]
        if not runs:
            return None
        self._add(label, float(frame_scores[runs[0][0]:runs[0][1]].mean()), self._frames(runs[0]))
        self._add_more(label, [(float(frame_scores[a:b].mean()), (a, b)) for a, b in runs[1:]])
        return runs[0]

    def _arms(self) -> None:
        p, j, arm = self.p, self.j, self.arm
        raised, overhead = {}, {}
        reaching = []
        for side, (s, e, w) in ARM_JOINTS.items():
            shoulder_to_wrist = j[:, w] - j[:, s]
            elevation = _elevation_deg(shoulder_to_wrist)
            elbow = _angle_deg(j[:, s] - j[:, e], j[:, w] - j[:, e])
            raised[side] = ramp(shoulder_to_wrist[:, 1] / arm, p.raised_wrist_over_shoulder)
            overhead[side] = np.minimum(ramp((j[:, w, 1] - j[:, HEAD, 1]) / arm, p.overhead_wrist_over_head),
                                        ramp(elevation, p.overhead_elevation_deg))
            pointing = np.minimum.reduce([self.upright_torso, ramp(elbow, p.pointing_elbow_deg),
                                          ramp(elevation, p.pointing_elevation_low_deg),
                                          ramp(elevation, p.pointing_elevation_high_deg)])
            self._add_run(f"pointing_{side}_arm", np.nan_to_num(pointing), p.pointing_min_s)
            forward = np.sum(shoulder_to_wrist * self.chest, axis=1) / arm  # x A along the chest's facing
            reaching.append(np.nan_to_num(np.minimum.reduce([  # upright: a plank's straight arms are not reaching
                self.upright_torso, ramp(elbow, p.reaching_elbow_deg), ramp(forward, p.reaching_forward),
                ramp(elevation, p.reaching_elevation_low_deg), ramp(elevation, p.reaching_elevation_high_deg)])))
            self._waving(side, s, e, w)
        run = self._add_run("reaching", np.maximum(*reaching), p.reaching_min_s)
        if run:
            self.details["reaching_side"] = SIDES[int(np.argmax([r.sum() for r in reaching]))]
            start, _ = self.spans["reaching"]
            self.spans["reaching"] = (start, min(self.spans["reaching"][1], start + p.reaching_max_s))
        # An arm label holds while the arm is up, and ends when it comes down: its span is that run.
        if not self._add_run("both_arms_raised", np.nan_to_num(np.minimum(raised["left"], raised["right"])),
                             p.raised_min_s):
            for side in SIDES:
                self._add_run(f"{side}_arm_raised", np.nan_to_num(raised[side]), p.raised_min_s)
        runs = {side: self._add_run(f"{side}_overhead", np.nan_to_num(overhead[side]), p.overhead_min_s)
                for side in SIDES}
        sides = [side for side in SIDES if runs[side]]
        if sides:  # one label for either arm: the side is in details (labels.yaml cannot tell it at a distance)
            held = np.zeros(len(self.t), bool)
            for side in sides:
                held[runs[side][0]:runs[side][1]] = True
                self.spans.pop(f"{side}_overhead")
            self._add("arm_overhead", max(self.labels.pop(f"{side}_overhead") for side in sides), held)
            self.details["overhead_side"] = "both" if len(sides) == 2 else sides[0]

    def _waving(self, side: str, s: int, e: int, w: int) -> None:
        p, j = self.p, self.j
        hand_up = ((j[:, w, 1] - j[:, s, 1]) / self.arm > p.wave_hand_up) & (j[:, w, 1] > j[:, e, 1])
        stretch = max(self._stretches(hand_up), key=lambda run: run[1] - run[0], default=(0, 0))
        n = stretch[1] - stretch[0]
        if n * self.dt < p.wave_min_s:
            return
        t = self.t[stretch[0]:stretch[1]]
        relative = j[stretch[0]:stretch[1], w] - j[stretch[0]:stretch[1], s]  # the wrist about the shoulder
        relative = relative - relative.mean(axis=0) - np.outer(t - t.mean(), _least_squares_slope(t, relative))
        main_direction = np.linalg.svd(relative, full_matrices=False)[2][0]
        signal = relative @ main_direction  # (n,) metres along the wrist's main direction of motion
        n_fft = max(512, 1 << math.ceil(math.log2(4 * n)))  # zero padding: ~0.04 Hz bins at 20 Hz
        spectrum = np.abs(np.fft.rfft(signal * np.hanning(n), n_fft))
        freqs = np.fft.rfftfreq(n_fft, self.dt)
        band = (freqs >= p.wave_band_hz[0]) & (freqs <= p.wave_band_hz[1])
        if not band.any():
            return
        frequency = float(freqs[band][np.argmax(spectrum[band])])
        # Share of the motion one sinusoid at that frequency explains: high for a wave, low for noise or jerks.
        basis = np.stack([np.sin(2 * np.pi * frequency * t), np.cos(2 * np.pi * frequency * t), np.ones(n)], 1)
        fitted = basis @ np.linalg.lstsq(basis, signal, rcond=None)[0]
        periodicity = 1.0 - float(np.sum((signal - fitted) ** 2) / max(np.sum(signal ** 2), 1e-12))
        amplitude = float(signal.std()) / self.arm
        cycles = frequency * n * self.dt
        score = min(float(ramp(amplitude, p.wave_amplitude)), float(ramp(periodicity, p.wave_periodicity)),
                    float(ramp(cycles, p.wave_cycles)), float(ramp(abs(main_direction[1]), p.wave_vertical)))
        if score >= 0.5:
            self._add(f"waving_{side}_hand", score)
            self.details[f"wave_hz_{side}"] = round(frequency, 2)

    def _jumping(self) -> None:
        p, leg = self.p, self.leg
        if not self.upright.any():
            return
        height = self.j[:, :, 1] - self.floor[:, None]  # metres above the floor
        feet = height[:, [L_ANKLE, R_ANKLE, L_FOOT, R_FOOT]].min(axis=1)  # (M,) the lower foot
        standing_pelvis = np.median(height[self.upright, PELVIS])
        rise = (height[:, PELVIS] - standing_pelvis) / leg
        airborne = np.minimum(ramp(feet / leg, p.jump_foot_clearance), ramp(rise, p.jump_pelvis_rise))
        best = 0.0
        for a, b in self._stretches(airborne >= 0.5):
            # The flight: from the last frame on the ground before to the first after (both included). Both must
            # be seen, in time order without a break: a flight whose take-off or landing is not seen (the track
            # starts or ends in the air, or is lost) is a fit that jumped, not a body; a real jump at a window's
            # edge lies whole inside the next window.
            if a == 0 or b == len(self.t) or not self._unbroken_between(a - 1, b):
                continue
            a, b = a - 1, b + 1
            flight_s = self.t[b - 1] - self.t[a]
            if not p.jump_min_flight_s <= flight_s <= p.jump_max_flight_s or b - a < 3:
                continue
            t = self.t[a:b] - self.t[a]
            curvature = np.polyfit(t, height[a:b, PELVIS], 2)[0]  # metres / s^2 / 2
            apex = a + int(np.argmax(height[a:b, PELVIS]))
            together = (feet[apex] - np.median(feet[self.upright])) / max(height[apex, PELVIS] - standing_pelvis,
                                                                          1e-6)
            apex_rise = height[apex, PELVIS] - (height[a, PELVIS] + height[b - 1, PELVIS]) / 2
            misfit = abs(math.log(max(apex_rise, 1e-3) / (9.81 * flight_s ** 2 / 8)))
            along = float(np.nanmax(self.speed[a:b])) if np.any(np.isfinite(self.speed[a:b])) else math.inf
            score = min(float(airborne[a:b].max()), float(ramp(-2.0 * curvature, p.jump_gravity_mps2)),
                        float(ramp(together, p.jump_feet_with_pelvis)), float(ramp(misfit, p.jump_ballistic_misfit)),
                        float(ramp(along, p.jump_max_speed)))
            if score > best and (b - a) * self.dt >= p.jump_min_s:
                best = score
                held = np.zeros(len(self.t), bool)
                held[a:b] = True
                self.details["jump_height_m"] = round(float(np.max(rise[a:b]) * leg), 3)
        if best >= 0.5:
            self._add("jumping", best, held)

    def _exercising(self) -> None:
        """Squats, push-ups (the cobra form too) and lifts, each from its own signal (M,), with the count."""
        p, j = self.p, self.j
        height = (j[:, :, 1] - self.floor[:, None]) / self.leg  # x L above the floor
        upright = self.legs_seen & (self.tilt < 65.0)
        # Face down with hips and legs low (a plank, or the cobra's hips on the floor and chest up).
        thighs = np.abs(_elevation_deg(j[:, [L_KNEE, R_KNEE]] - j[:, [L_HIP, R_HIP]])).mean(axis=1)
        flat = self.legs_seen & (height[:, PELVIS] < 0.75) & (thighs < 35.0) & (self.chest[:, 1] < 0.0)
        feet_down = height[:, [L_ANKLE, R_ANKLE, L_FOOT, R_FOOT]].min(axis=1) < p.jump_foot_clearance[0]
        wrists = (j[:, [20, 21], 1].mean(axis=1) - j[:, [16, 17], 1].mean(axis=1)) / self.arm
        best: tuple[float, str, int, tuple[int, int]] = (0.0, "", 0, (0, 0))
        for name, signal, mask, limits in (("squats", height[:, PELVIS], upright & feet_down, p.squat_range),
                                           ("push_ups", height[:, NECK], flat, p.push_up_range),
                                           ("lifts", wrists, upright & np.isfinite(wrists), p.lift_range)):
            run = max(self._stretches(mask), key=lambda r: r[1] - r[0], default=(0, 0))
            values = signal[run[0]:run[1]]
            if len(values) < 3:
                continue
            lo, hi = np.percentile(values, [5, 95])
            changes = _hysteresis_changes(values, lo + 0.3 * (hi - lo), lo + 0.7 * (hi - lo))
            reps = len(changes) // 2
            if reps < p.exercise_min_reps:
                continue
            pace = (changes[2 * reps - 1] - changes[0]) * self.dt / max(reps - 0.5, 0.5)  # s per repetition
            score = float(ramp(hi - lo, limits)) if p.exercise_min_rep_s <= pace <= p.exercise_max_rep_s else 0.0
            if score > best[0]:
                best = (score, name, reps, (run[0] + changes[0], run[0] + changes[2 * reps - 1] + 1))
        score, name, reps, (start, stop) = best
        if score >= 0.5:
            held = np.zeros(len(self.t), bool)
            held[max(start - 1, 0):stop] = True
            self._add("exercising", score, held)
            self.details.update(exercise=name, repetitions=reps)

    def _falling(self) -> None:
        p = self.p
        pelvis_y = self.j[:, PELVIS, 1]
        down_speed = -self._velocity(pelvis_y)
        if not np.any(np.isfinite(down_speed)):
            return
        peak = int(np.nanargmax(down_speed))
        end = self.t >= self.t[-1] - p.fall_end_s
        drop = (pelvis_y[:peak + 1].max() - np.median(pelvis_y[end])) / self.leg
        lying = np.isin(self.posture[end], [POSTURES.index("lying"), POSTURES.index("prone")]).mean()
        # A fall starts on the feet: a body already on the floor that lowers itself (a push-up) does not fall.
        was_up = bool(self.upright[:peak + 1].any())
        score = min(float(ramp(down_speed[peak], p.fall_down_speed)), float(ramp(drop, p.fall_drop)),
                    float(ramp(lying, p.fall_end_lying))) if was_up else 0.0
        if score >= 0.5:
            held = self.t >= self.t[max(peak - round(p.fall_end_s / self.dt), 0)]  # the drop and what follows
            self._add("falling", score, held)
            self.details.update(fall_speed_mps=round(float(down_speed[peak]), 2),
                                fall_drop_m=round(float(drop * self.leg), 2))

    # ----------------------------------------------------------------------------------------------- sentence
    def _sentence(self) -> str:
        labels, d = self.labels, self.details
        postures = [name for name in self.posture_order if name in labels]
        if "falling" in labels:
            main = f"falling and ending up {POSTURE_WORDS[str(d['posture_end'])]}"
        elif "walking" in labels or "running" in labels:
            gait = "running" if "running" in labels else "walking"
            main = f"{gait}{self._direction()} at {float(d['speed_mps']):.1f} m/s"
        elif postures:
            main = ", then ".join(POSTURE_WORDS[name] for name in postures)
            if "still" in labels and postures == ["standing"]:
                main = "standing still"
        elif not self.legs_seen.any():
            main = "seen from the waist up only (legs not in view: no posture or locomotion)"
        else:
            main = "in an unclear posture" if "still" in labels else "moving in an unclear way"
        parts = [f"one person {main}"]
        if "jumping" in labels:
            parts.append(f"jumping about {float(d['jump_height_m']):.2f} m high")
        for side in ("left", "right"):
            if f"turning_{side}" in labels:
                start, end = self.spans[f"turning_{side}"]
                parts.append(f"turning {side} by {abs(float(d['turn_deg'])):.0f} degrees {start:.1f}-{end:.1f} s into "
                             f"the window")  # from its first frame; the label's span has the data time
        parts.extend(self._arm_phrases())
        if "exercising" in labels:
            parts.append(f"doing {str(d['exercise']).replace('_', '-')} ({d['repetitions']} repetitions)")
        return ", ".join(parts)

    def _direction(self) -> str:
        if "approaching_camera" in self.labels:
            return " towards the camera"
        if "leaving_camera" in self.labels:
            return " away from the camera"
        if self.camera_centred:
            return " across the view to the image's " + ("right" if float(self.details["heading_deg"]) > 0
                                                          else "left")
        return ""

    def _arm_phrases(self) -> list[str]:
        labels, d = self.labels, self.details
        phrases = []
        waving = [side for side in SIDES if f"waving_{side}_hand" in labels]
        for side in waving:
            phrases.append(f"{side} hand waving at {float(d[f'wave_hz_{side}']):.1f} Hz")
        if "arm_overhead" in labels:
            side = str(d["overhead_side"])
            phrases.append("both arms overhead" if side == "both" else f"{side} arm overhead")
        elif "both_arms_raised" in labels and len(waving) < 2:
            phrases.append("both arms raised")
        else:
            phrases.extend(f"{side} arm raised" for side in SIDES
                           if f"{side}_arm_raised" in labels and side not in waving)
        phrases.extend(f"pointing with the {side} arm" for side in SIDES if f"pointing_{side}_arm" in labels)
        if "reaching" in labels:
            phrases.append(f"reaching out with the {d['reaching_side']} arm")
        return phrases
