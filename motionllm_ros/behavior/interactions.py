"""Interaction primitives without weights: what two tracked people did together, with the time span where it held.

Input: one window of the own person's and each other person's 22 HumanML3D/SMPL joints, all in the perception's
camera-centred output frame (camera at the origin, x to the camera's right, y up, z towards the camera: a person in
front of it has z < 0, depth = -z). A person not seen in a frame is a NaN row; a joint not seen is NaN. Whatever a
label needs that is NaN in a frame leaves that label unjudged there: no label rather than a guess.

Why the measurements look the way they do
    Monocular pose gets each person's *shape* (joint offsets from their own pelvis) and their *direction* from the
    camera (the image) right, but their *depth* only from their apparent size: it can be off by a metre or more,
    and independently for two people. A point's x and y are its image direction times that depth, so a depth
    error also moves it sideways. Between two people this module therefore measures
      - lateral offsets (x, y) from the image only: every joint is slid along its ray through the camera to the
        pair's common depth (the mean of the two pelvis depths) before the two are compared, so one person's depth
        error does not move them sideways relative to the other (`_lateral`);
      - depth offsets (z) as estimated, but only against loose tolerances that grow with depth (`*_depth_gap`);
      - everything inside one body (shoulder width, facing direction, where a hand is relative to its own chest)
        on that person's own joints, which the fit gets right whatever their depth.
    Hands are judged relative to body size (shoulder widths) where the distance is about bodies touching.

Scores
    As in `primitives`: a frame's score for a label is the minimum of ramps (0 at `lo`, 1 at `hi`, linear between),
    one per condition; the label holds on frames scoring at least 0.5, over runs lasting its `*_min_s`; its score is
    the mean frame score over the run. Short breaks (a flickering joint) up to `bridge_s` are bridged.

Labels (definitions from shared/data/labels.yaml)
    approaching_person  the distance between the two decreases, at least one walking towards the other
    talking_to          facing each other at conversational distance (roughly 0.5-2 m) for a while, both upright
                        (someone bent over a planter with their chest turned towards another is not talking)
    handshake           a hand of each close together between them, at arm's length
    hug                 arms around each other, chests close
    walking_together    both moving in the same direction side by side
Precision before recall: a planner acts on these, so every condition that a label implies is checked.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

# `ramp`, `_runs` and `_least_squares_slope` are the primitives' own scoring, run and slope helpers: interactions
# score the same way.
from motionllm_ros.behavior.primitives import Ramp, _least_squares_slope, _runs, ramp
from motionllm_ros.perception.skeleton import HUMANML3D_NUM_JOINTS

PELVIS, L_HIP, R_HIP, SPINE1, SPINE2, SPINE3, NECK, L_SHOULDER, R_SHOULDER = 0, 1, 2, 3, 6, 9, 12, 16, 17
ANKLES = (7, 8)  # left, right
WRISTS = (20, 21)  # left, right
TORSO_JOINTS = [PELVIS, L_HIP, R_HIP, SPINE1, SPINE2, SPINE3, NECK, L_SHOULDER, R_SHOULDER]  # must be seen for a
# person to count in a frame: position, facing and size all come from these

INTERACTION_LABELS = ("approaching_person", "talking_to", "handshake", "hug", "walking_together")


class InteractionInputError(ValueError):
    """stamps / joints that cannot describe an interaction; the message names the argument and its shape."""


@dataclass(frozen=True)
class InteractionParams:
    """Thresholds of every interaction; Ramp fields are (lo, hi) as in the module docstring. SW: shoulder width
    (the mean of the two people's, measured on the window itself, ~0.35 m on an adult's SMPL joints)."""

    min_depth_m: float = 0.3  # pelvis depth (-z) below this: not in front of the camera, the frame is not judged
    velocity_span_s: float = 0.8  # s: velocities are least-squares slopes over this span (about one gait cycle,
    # so step sway and per-frame depth jitter average out)
    bridge_s: float = 0.25  # s: a break shorter than this between two held runs (a joint flickering out) is bridged

    # Facing each other: each one's chest direction (horizontal) against the direction to the other's chest
    facing_deg: Ramp = (60.0, 45.0)  # deg off the other, talking_to; loose because the direction to the other uses
    # the depth estimate (a 0.5 m depth error over 1 m apart turns it by ~25 deg)
    handshake_facing_deg: Ramp = (85.0, 70.0)  # deg: a handshake only needs both turned towards the other

    # Handshake: one wrist of each close together, between the two chests, at hand height, bodies at arm's length
    handshake_wrist_gap: Ramp = (0.9, 0.6)  # x SW, lateral (image) distance between the two wrists: clasped hands
    # put them ~0.15-0.2 m apart (~0.5 SW); pose error on a wrist is ~0.05 m
    handshake_wrist_depth_gap: Ramp = (0.3, 0.2)  # x depth, |z| between the wrists over the pair's depth: loose,
    # as depth errors grow with depth (0.875 m allowed at 3.5 m); someone 2 m behind at 4 m is 0.5
    handshake_between: Ramp = (0.0, 0.15)  # the wrists' midpoint along the chest-to-chest line, distance from the
    # nearer chest as a share of the line: the hands meet between the bodies, not behind one of them
    handshake_distance_low: Ramp = (0.4, 0.55)  # m, chest-to-chest (horizontal): not a hug
    handshake_distance_high: Ramp = (1.6, 1.3)  # m: two arms' reach (~0.65 m each) plus a hand
    handshake_wrist_below_shoulder: Ramp = (0.0, 0.1)  # m, own shoulder height - wrist height: not a high five
    handshake_wrist_forward: Ramp = (0.1, 0.2)  # m, wrist ahead of the own chest along the own facing: held out
    # (a hanging hand is at ~0, a hand held out to another's at ~0.3-0.4)
    handshake_min_s: float = 0.4  # s; a handshake lasts ~1-3 s, a hand passing by another much less

    # Hug: chests close, each with a hand held forward around the other's torso, at least one facing the other.
    # Not both facing each other: the pose model turns a person whose face is hidden in the embrace front to back
    # (hug_two_people.mp4: the man in grey's facing flips by 150-180 deg throughout the hug).
    hug_chest_gap: Ramp = (0.5, 0.35)  # m, lateral (image) distance between the two spine3 joints (chests touch:
    # ~0.2-0.3 m between the spine joints inside the bodies)
    hug_chest_depth_gap: Ramp = (0.3, 0.2)  # x depth, |z| between them over the pair's depth (as for handshakes)
    hug_facing_deg: Ramp = (80.0, 65.0)  # deg, the better-turned one's chest off the direction to the other
    hug_wrist_forward: Ramp = (0.1, 0.2)  # m, wrist ahead of the own chest along the own facing: the arm reaches
    # out and around (a hanging arm is at ~0)
    hug_wrist_to_other: Ramp = (0.45, 0.3)  # m, lateral (image) distance from the wrist to the other's torso line
    # (pelvis-neck): a hand on the other's back is ~0.1-0.25 m from their spine
    hug_min_s: float = 0.5  # s; an embrace lasts ~1-3 s

    # Talking to: facing each other at conversational distance, both upright, neither walking, for a while
    talking_lean_deg: Ramp = (16.0, 12.0)  # deg, each one's forward lean (`_Pair._forward_lean`). The fit flattens
    # a bend: handshake_two_people.mp4's man bent ~45-50 deg over a planter measures 17-24 deg (13-15 while he
    # straightens up, 1.8-1.9 s), the woman standing beside him at most 12.4. Cost: someone leaning in by more than
    # ~15 deg is not talking; with the ankles out of view and a camera looking down, neither is someone facing it
    talking_distance_low: Ramp = (0.35, 0.5)  # m, chest-to-chest (horizontal)
    talking_distance_high: Ramp = (2.5, 2.0)  # m ("roughly 0.5-2 m")
    talking_speed: Ramp = (0.8, 0.5)  # m/s, each one's pelvis speed: walking past each other is not talking
    talking_min_s: float = 1.0  # s: a glance while passing is not a conversation

    # Approaching: the distance decreases, at least one walking towards the other
    approach_rate: Ramp = (-0.15, -0.3)  # m/s, rate of change of the pelvis-to-pelvis distance
    approach_walker_speed: Ramp = (0.15, 0.3)  # m/s, the faster one's velocity along the line to the other
    approach_decrease: Ramp = (0.3, 0.5)  # m, distance lost over the run: shuffling or depth drift is less
    approach_end_distance: Ramp = (3.0, 2.5)  # m, apart at the end of the run: walking towards someone ends near
    approach_min_s: float = 0.5  # s: about one step each way

    # Walking together: both moving, the same way, side by side, keeping their distance
    together_speed: Ramp = (0.3, 0.5)  # m/s, each one's pelvis speed (a slow walk is ~0.5 m/s)
    together_heading_deg: Ramp = (40.0, 25.0)  # deg between the two horizontal velocities
    together_distance: Ramp = (2.5, 2.0)  # m apart, chest to chest (horizontal)
    together_rate: Ramp = (0.4, 0.25)  # m/s, |rate of change of the distance|: walking in step, not converging
    together_min_s: float = 1.0  # s: two steps side by side

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                if len(value) != 2 or value[0] == value[1] or not all(np.isfinite(value)):
                    raise ValueError(f"InteractionParams.{f.name}: a ramp needs two different finite limits, "
                                     f"got {value}")
            elif not (np.isfinite(value) and value > 0):
                raise ValueError(f"InteractionParams.{f.name} must be a positive number of its unit, got {value}")


@dataclass(frozen=True)
class Interaction:
    label: str  # one of INTERACTION_LABELS
    other_track: int  # the other person's track id
    score: float  # [0.5, 1]: mean frame score over the span
    start_s: float  # s, data time of the first frame where it held (inside the given stamps)
    end_s: float  # s, data time of the last frame where it held


def describe_interactions(stamps: np.ndarray, own: np.ndarray, others: dict[int, np.ndarray],
                          params: InteractionParams = InteractionParams()) -> list[Interaction]:
    """Every interaction between `own` and each person in `others` during the window, ordered by start time.

    stamps: (N,) seconds, data time, strictly increasing; own and each others[track]: (N, 22, 3) metres in the
    camera-centred frame (module docstring), NaN where not seen. Raises InteractionInputError on wrong shapes or
    stamps that are not finite and increasing.
    """
    stamps = np.asarray(stamps, dtype=np.float64)
    if stamps.ndim != 1 or not np.all(np.isfinite(stamps)) or np.any(np.diff(stamps) <= 0):
        raise InteractionInputError(f"stamps must be finite, strictly increasing seconds of shape (N,), got shape "
                                    f"{stamps.shape}")
    own = _checked("own", own, len(stamps))
    found = []
    for track in sorted(others):
        found += _Pair(stamps, own, _checked(f"others[{track}]", others[track], len(stamps)), params).labels(
            int(track))
    return sorted(found, key=lambda i: (i.start_s, i.label, i.other_track))


def interaction_phrase(own_track: int, interaction: Interaction) -> str:
    """One clause for a description, e.g. "track 1 and track 2 shake hands"."""
    pair = f"track {own_track} and track {interaction.other_track}"
    return {
        # The label does not say which of the two walked: the phrase does not either.
        "approaching_person": f"{pair} come closer together",
        # Speech is not seen: what is seen is two people facing each other at talking distance.
        "talking_to": f"{pair} face each other at talking distance",
        "handshake": f"{pair} shake hands",
        "hug": f"{pair} hug",
        "walking_together": f"{pair} walk together",
    }[interaction.label]


def _checked(name: str, joints: np.ndarray, n: int) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float64)
    if joints.shape != (n, HUMANML3D_NUM_JOINTS, 3):
        raise InteractionInputError(f"{name} must have shape ({n}, {HUMANML3D_NUM_JOINTS}, 3) (N = len(stamps)), "
                                    f"got {joints.shape}")
    return joints


def _horizontal_unit(vectors: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3): the x-z part, unit length; NaN where it is shorter than 1e-6."""
    flat = vectors * np.array([1.0, 0.0, 1.0])
    length = np.linalg.norm(flat, axis=-1, keepdims=True)
    return flat / np.where(length > 1e-6, length, np.nan)


def _angle_to_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle between unit vectors (..., 3), degrees."""
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)))


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from points (N, D) to the segments a-b (N, D)."""
    ab = b - a
    t = np.clip(np.sum((points - a) * ab, axis=-1) / np.maximum(np.sum(ab * ab, axis=-1), 1e-12), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=-1)


class _Pair:
    """Per-frame measurements of one pair (own = A, other = B), then one method per label."""

    def __init__(self, stamps: np.ndarray, a: np.ndarray, b: np.ndarray, p: InteractionParams):
        self.t, self.a, self.b, self.p = stamps, a, b, p
        depth_a, depth_b = -a[:, PELVIS, 2], -b[:, PELVIS, 2]  # (N,) m
        # Both bodies seen and in front of the camera; comparisons with NaN are False, so unseen frames drop out.
        self.seen = (np.all(np.isfinite(a[:, TORSO_JOINTS]), axis=(1, 2)) & np.all(np.isfinite(b[:, TORSO_JOINTS]),
                                                                                      axis=(1, 2))
                     & (depth_a > p.min_depth_m) & (depth_b > p.min_depth_m))
        self.depth = np.where(self.seen, (depth_a + depth_b) / 2.0, np.nan)  # (N,) m, the pair's common depth
        widths = [np.nanmedian(np.where(self.seen, np.linalg.norm(x[:, L_SHOULDER] - x[:, R_SHOULDER], axis=-1),
                                        np.nan)) if self.seen.any() else np.nan for x in (a, b)]
        self.sw = float(np.mean(widths))  # m, shoulder width, one number for the window
        self.facing_a, self.facing_b = self._facing(a), self._facing(b)  # (N, 3) horizontal unit chest directions
        self.lean_a, self.lean_b = self._forward_lean(a, self.facing_a), self._forward_lean(b, self.facing_b)  # (N,)
        # Chests in the pair frame: lateral from the image at the common depth, depth as estimated.
        self.chest_a, self.chest_b = self._pair_frame(a[:, SPINE3]), self._pair_frame(b[:, SPINE3])  # (N, 3)
        between = self.chest_b - self.chest_a
        self.distance = np.linalg.norm(between[:, [0, 2]], axis=-1)  # (N,) m, horizontal, chest to chest
        self.towards_b = _horizontal_unit(between)  # (N, 3) from A to B
        # Locomotion from the pelvises: leaning in (hug_two_people.mp4: the chests close 0.4 m, the pelvises
        # 0.17 m, without a step) is not walking.
        pelvis_a, pelvis_b = self._pair_frame(a[:, PELVIS]), self._pair_frame(b[:, PELVIS])  # (N, 3)
        self.pelvis_distance = np.linalg.norm((pelvis_b - pelvis_a)[:, [0, 2]], axis=-1)  # (N,) m, horizontal
        self.velocity_a = self._local_slope(pelvis_a)  # (N, 3) m/s
        self.velocity_b = self._local_slope(pelvis_b)
        # (N,) m/s each, A's and B's horizontal speed
        self.speeds = [np.linalg.norm(v[:, [0, 2]], axis=-1) for v in (self.velocity_a, self.velocity_b)]
        self.rate = self._local_slope(self.pelvis_distance[:, None])[:, 0]  # (N,) m/s, + apart, - closer

    # ------------------------------------------------------------------------------------------- measurements
    def _lateral(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) -> (N, 2): x, y slid along the camera ray to the pair's common depth (the image, not the depth
        estimate, decides where a point is sideways; see the module docstring)."""
        return points[:, :2] * (self.depth / -points[:, 2])[:, None]

    def _pair_frame(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) -> (N, 3): lateral x, y at the common depth, z as estimated."""
        return np.concatenate([self._lateral(points), points[:, 2:]], axis=1)

    def _facing(self, x: np.ndarray) -> np.ndarray:
        """(N, 22, 3) -> (N, 3): the horizontal direction the chest faces, from the person's own hip and shoulder
        lines (SMPL: left +x, up +y -> forward +z), which the fit gets right whatever the person's depth."""
        across = (x[:, L_HIP] - x[:, R_HIP]) + (x[:, L_SHOULDER] - x[:, R_SHOULDER])  # towards the person's left
        return _horizontal_unit(np.cross(across, x[:, NECK] - x[:, PELVIS]))

    @staticmethod
    def _forward_lean(x: np.ndarray, facing: np.ndarray) -> np.ndarray:
        """(N,) degrees the torso (pelvis->neck) leans forward along the own facing (negative: back), the smaller of
        two readings: from the frame's vertical, and from the own leg line (mid-ankle->pelvis). The frame's y is
        gravity only as far as the camera pitch is known: a camera looking down tilts everyone towards it
        (handshake_two_people.mp4: ~15-20 deg; the woman, side-on, leans that much sideways), which is forward for
        someone facing it. The legs of a standing person tilt with them, so against the leg line that error
        cancels; seated, the legs lie forward and the vertical reading holds. Ankles not seen: the vertical only."""
        def pitch(v: np.ndarray) -> np.ndarray:
            return np.degrees(np.arctan2(np.sum(v * facing, axis=-1), v[:, 1]))

        torso = pitch(x[:, NECK] - x[:, PELVIS])
        return np.fmin(torso, torso - pitch(x[:, PELVIS] - x[:, list(ANKLES)].mean(axis=1)))

    def _local_slope(self, values: np.ndarray) -> np.ndarray:
        """(N, C) -> (N, C): slope per second of a least-squares line through the seen frames within
        velocity_span_s / 2 of each frame; NaN where they cover less than half the span or are fewer than 3."""
        out = np.full(values.shape, np.nan)
        half = self.p.velocity_span_s / 2.0
        usable = self.seen & np.all(np.isfinite(values), axis=1)
        for k in np.flatnonzero(usable):
            near = usable & (np.abs(self.t - self.t[k]) <= half + 1e-9)
            times = self.t[near]
            if near.sum() >= 3 and times[-1] - times[0] >= half - 1e-9:
                out[k] = _least_squares_slope(times, values[near])
        return out

    @staticmethod
    def _forward(x: np.ndarray, wrist: int, facing: np.ndarray) -> np.ndarray:
        """(N,) m: how far the wrist is ahead of the person's own chest along their facing; both points are the
        same person's, so their depth error cancels."""
        return np.sum((x[:, wrist] - x[:, SPINE3]) * facing, axis=-1)

    def _facing_each_other(self, limits: Ramp) -> np.ndarray:
        """(N,) score: both chests turned towards the other within the ramp's angles."""
        return np.minimum(ramp(_angle_to_deg(self.facing_a, self.towards_b), limits),
                          ramp(_angle_to_deg(self.facing_b, -self.towards_b), limits))

    # ------------------------------------------------------------------------------------------------ labels
    def labels(self, track: int) -> list[Interaction]:
        if not self.seen.any():
            return []
        frame_scores = {"approaching_person": self._approaching(), "talking_to": self._talking(),
                        "handshake": self._handshake(), "hug": self._hug(), "walking_together": self._together()}
        min_s = {"approaching_person": self.p.approach_min_s, "talking_to": self.p.talking_min_s,
                 "handshake": self.p.handshake_min_s, "hug": self.p.hug_min_s,
                 "walking_together": self.p.together_min_s}
        found = []
        for label, scores in frame_scores.items():
            scores = np.where(self.seen, np.nan_to_num(scores), 0.0)  # unseen or unjudged: not held
            for start, stop in self._held_runs(scores >= 0.5, min_s[label]):
                if label == "approaching_person" and not self._approach_accepted(start, stop):
                    continue
                held = scores[start:stop]
                found.append(Interaction(label, track, float(held[held >= 0.5].mean()), float(self.t[start]),
                                         float(self.t[stop - 1])))
        return found

    def _held_runs(self, held: np.ndarray, min_s: float) -> list[tuple[int, int]]:
        """[start, stop) runs of held frames, breaks up to bridge_s bridged, lasting min_s (a run's duration counts
        its last frame's interval: one frame at 10 fps lasts 0.1 s)."""
        merged: list[list[int]] = []
        for start, stop in _runs(held):
            if merged and self.t[start] - self.t[merged[-1][1] - 1] <= self.p.bridge_s + 1e-9:
                merged[-1][1] = stop
            else:
                merged.append([start, stop])
        frame_s = float(np.median(np.diff(self.t))) if len(self.t) > 1 else 0.0
        return [(start, stop) for start, stop in merged if self.t[stop - 1] - self.t[start] + frame_s >= min_s - 1e-9]

    def _handshake(self) -> np.ndarray:
        p, a, b = self.p, self.a, self.b
        facing = self._facing_each_other(p.handshake_facing_deg)
        at_arms_length = np.minimum(ramp(self.distance, p.handshake_distance_low),
                                    ramp(self.distance, p.handshake_distance_high))
        line = self.chest_b - self.chest_a  # (N, 3) pair frame
        best = np.zeros(len(self.t))
        for wa in WRISTS:
            for wb in WRISTS:
                lateral_gap = np.linalg.norm(self._lateral(a[:, wa]) - self._lateral(b[:, wb]), axis=-1) / self.sw
                depth_gap = np.abs(a[:, wa, 2] - b[:, wb, 2]) / self.depth
                middle = (self._pair_frame(a[:, wa]) + self._pair_frame(b[:, wb])) / 2.0
                along = np.sum((middle - self.chest_a) * line, axis=-1) / np.sum(line * line, axis=-1)  # 0 A, 1 B
                hand_height = [ramp(x[:, s, 1] - x[:, w, 1], p.handshake_wrist_below_shoulder) for x, w, s in
                               ((a, wa, L_SHOULDER + wa - WRISTS[0]), (b, wb, L_SHOULDER + wb - WRISTS[0]))]
                held_out = [ramp(self._forward(x, w, facing), p.handshake_wrist_forward) for x, w, facing in
                            ((a, wa, self.facing_a), (b, wb, self.facing_b))]
                score = np.minimum.reduce([facing, at_arms_length, ramp(lateral_gap, p.handshake_wrist_gap),
                                           ramp(depth_gap, p.handshake_wrist_depth_gap),
                                           ramp(np.minimum(along, 1.0 - along), p.handshake_between),
                                           *hand_height, *held_out])
                best = np.fmax(best, np.nan_to_num(score))
        return best

    def _hug(self) -> np.ndarray:
        p, a, b = self.p, self.a, self.b
        chest_gap = np.linalg.norm(self._lateral(a[:, SPINE3]) - self._lateral(b[:, SPINE3]), axis=-1)
        chest_depth_gap = np.abs(a[:, SPINE3, 2] - b[:, SPINE3, 2]) / self.depth
        turned = np.fmin(_angle_to_deg(self.facing_a, self.towards_b), _angle_to_deg(self.facing_b, -self.towards_b))

        def arm_around(x: np.ndarray, facing: np.ndarray, y: np.ndarray) -> np.ndarray:
            """(N,) score: a wrist of x held forward, at y's torso (lateral, image), either hand."""
            scores = []
            for w in WRISTS:
                forward = self._forward(x, w, facing)
                near = _segment_distance(self._lateral(x[:, w]), self._lateral(y[:, PELVIS]), self._lateral(y[:, NECK]))
                scores.append(np.nan_to_num(np.minimum(ramp(forward, p.hug_wrist_forward),
                                                       ramp(near, p.hug_wrist_to_other))))
            return np.maximum.reduce(scores)

        return np.minimum.reduce([ramp(chest_gap, p.hug_chest_gap), ramp(chest_depth_gap, p.hug_chest_depth_gap),
                                  ramp(turned, p.hug_facing_deg), arm_around(a, self.facing_a, b),
                                  arm_around(b, self.facing_b, a)])

    def _talking(self) -> np.ndarray:
        p = self.p
        return np.minimum.reduce([self._facing_each_other(p.facing_deg),
                                  ramp(self.lean_a, p.talking_lean_deg), ramp(self.lean_b, p.talking_lean_deg),
                                  ramp(self.distance, p.talking_distance_low),
                                  ramp(self.distance, p.talking_distance_high),
                                  *[ramp(s, p.talking_speed) for s in self.speeds]])

    def _approaching(self) -> np.ndarray:
        p = self.p
        # Each one's velocity along the line to the other (+: walking towards them); the faster walker counts.
        walker = np.fmax(np.sum(self.velocity_a * self.towards_b, axis=-1),
                         np.sum(self.velocity_b * -self.towards_b, axis=-1))
        return np.minimum(ramp(self.rate, p.approach_rate), ramp(walker, p.approach_walker_speed))

    def _approach_accepted(self, start: int, stop: int) -> bool:
        """A run of closing frames is an approach if it lost enough distance and ended near the other."""
        distance = self.pelvis_distance[start:stop][self.seen[start:stop]]
        return bool(ramp(distance[0] - distance[-1], self.p.approach_decrease) >= 0.5
                    and ramp(distance[-1], self.p.approach_end_distance) >= 0.5)

    def _together(self) -> np.ndarray:
        p = self.p
        heading = _angle_to_deg(_horizontal_unit(self.velocity_a), _horizontal_unit(self.velocity_b))
        return np.minimum.reduce([*[ramp(s, p.together_speed) for s in self.speeds],
                                  ramp(heading, p.together_heading_deg), ramp(self.distance, p.together_distance),
                                  ramp(np.abs(self.rate), p.together_rate)])
