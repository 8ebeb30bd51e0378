"""Labelled synthetic motions for testing and evaluating the behaviour primitives.

Each motion is posed with SMPL forward kinematics (the built-in synthetic model) from designed joint rotations,
then placed in the perception's camera-centred frame (camera at the origin, y up, z towards the camera, the floor
`camera_height` below it) and degraded like real perception: random frame rate and stamp jitter, dropped frames,
~1 cm joint noise, body size and shape. The true labels follow from the design, not from the detector.

Rotation conventions (SMPL rest: T-pose facing +z, the body's left at +x, y up): hip flexion (thigh forward) is a
negative rotation about x, knee flexion a positive one; the left arm is raised by +z rotations, the right by -z.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from motionllm_ros.perception.skeleton import HUMANML3D_NUM_JOINTS
from motionllm_ros.perception.smpl import (
    SmplModel,
    axis_angle_to_matrix,
    default_smpl_model,
    matrix_to_axis_angle,
)

DURATION_S = 3.0  # every motion is one window of this length
CONTACT_HEIGHT = 0.03  # metres: the lowest joint centre above the floor (joints sit inside the body)


@dataclass(frozen=True)
class LabelledMotion:
    kind: str  # the generator that made it, e.g. "walk"
    stamps: np.ndarray  # (T,) seconds, irregular, not starting at 0
    joints: np.ndarray  # (T, 22, 3) metres, camera-centred, y up; NaN rows for dropped frames
    labels: frozenset[str]  # what describe_motion should report
    truth: dict[str, float] = field(default_factory=dict)  # designed numbers: speed_mps, wave_hz, turn_deg, ...


def rot(axis: str, degrees: float) -> np.ndarray:
    """(3, 3) rotation about a coordinate axis."""
    vector = np.zeros(3)
    vector["xyz".index(axis)] = math.radians(degrees)
    return axis_angle_to_matrix(vector)


Pose = dict[int, np.ndarray]  # SMPL joint index -> local (3, 3) rotation; 0 is the global orientation


def relaxed_arms(pose: Pose) -> Pose:
    pose.setdefault(16, rot("z", -80.0))
    pose.setdefault(17, rot("z", 80.0))
    return pose


def arm_elevated(side: str, elevation: float, azimuth: float = 0.0) -> np.ndarray:
    """Shoulder rotation of a straight arm at `elevation` degrees above horizontal, `azimuth` degrees from sideways
    towards the front."""
    sign = 1.0 if side == "left" else -1.0
    return rot("y", -sign * azimuth) @ rot("z", sign * elevation)


def arm_pointing(side: str, elevation: float, azimuth: float) -> np.ndarray:
    """Straight arm to the front, `elevation` degrees above horizontal, `azimuth` degrees towards its own side."""
    sign = 1.0 if side == "left" else -1.0
    return rot("y", sign * azimuth) @ rot("x", -elevation) @ rot("y", -sign * 90.0)


def _joints(model: SmplModel, betas: np.ndarray, pose: Pose) -> np.ndarray:
    rotations = np.stack([pose.get(j, np.eye(3)) for j in range(24)])
    axis_angle = matrix_to_axis_angle(rotations)
    return model.forward_kinematics(betas, axis_angle[0], axis_angle[1:].reshape(-1)).joints[:HUMANML3D_NUM_JOINTS]


class _Scene:
    """Random body, camera and sampling for one motion; `render` turns a pose function into a LabelledMotion."""

    def __init__(self, rng: np.random.Generator, model: SmplModel):
        self.rng, self.model = rng, model
        self.betas = np.concatenate([rng.normal(0.0, 1.0, 2), np.zeros(8)])
        self.scale = rng.uniform(0.85, 1.15)  # body size
        self.camera_height = rng.uniform(0.8, 1.6)
        self.distance = rng.uniform(2.0, 5.0)
        self.yaw = rng.uniform(-180.0, 180.0)  # the person's facing in the camera frame (0: facing away)

    def stamps(self) -> np.ndarray:
        fps = self.rng.choice([10.0, 15.0, 20.0, 25.0, 30.0])
        n = int(DURATION_S * fps) + 1
        jitter = self.rng.uniform(-0.2, 0.2, n) / fps
        jitter[[0, -1]] = 0.0
        return 1000.0 + self.rng.uniform(0.0, 100.0) + np.arange(n) / fps + jitter

    def render(self, kind: str, labels: set[str], pose_at, where_at, lift_at=None,
               truth: dict[str, float] | None = None) -> LabelledMotion:
        """pose_at(t) -> Pose (global orientation about the body, no yaw), where_at(t) -> (x, z) of the pelvis in
        the camera frame, lift_at(t) -> metres off the floor (flight)."""
        stamps = self.stamps()
        t = stamps - stamps[0]
        facing = rot("y", self.yaw)
        frames = []
        for time in t:
            pose = dict(pose_at(time))
            pose[0] = facing @ pose.get(0, np.eye(3))
            joints = _joints(self.model, self.betas, pose)
            joints = joints - joints[0]
            joints *= self.scale
            x, z = where_at(time)
            lift = lift_at(time) if lift_at else 0.0
            floor = -self.camera_height
            joints[:, 1] += floor + CONTACT_HEIGHT + lift - joints[:, 1].min()
            joints[:, 0] += x
            joints[:, 2] += z
            frames.append(joints)
        joints = np.stack(frames) + self.rng.normal(0.0, 0.01, (len(t), HUMANML3D_NUM_JOINTS, 3))
        dropped = self.rng.random(len(t)) < 0.05
        dropped[[0, -1]] = False
        joints[dropped] = np.nan
        return LabelledMotion(kind, stamps, joints, frozenset(labels), truth or {})

    def facing_vector(self) -> np.ndarray:
        """(x, z) unit vector the person faces in the camera frame."""
        return np.array([math.sin(math.radians(self.yaw)), math.cos(math.radians(self.yaw))])


def _smooth(s: float) -> float:
    """0 -> 1 with zero slope at both ends, s clipped to [0, 1]."""
    s = min(max(s, 0.0), 1.0)
    return s * s * (3.0 - 2.0 * s)


# ------------------------------------------------------------------------------------------------------ motions
def _still(scene: _Scene, kind: str, labels: set[str], pose: Pose, truth: dict[str, float] | None = None):
    rng = scene.rng
    sway = rng.uniform(0.0, 3.0)  # degrees of idle torso sway, so that nothing is perfectly frozen
    phase = rng.uniform(0, 2 * math.pi)

    def pose_at(t: float) -> Pose:
        out = dict(pose)
        out[3] = out.get(3, np.eye(3)) @ rot("z", sway * math.sin(0.7 * t + phase))
        return out

    where = (rng.uniform(-1.0, 1.0), -scene.distance)
    return scene.render(kind, labels, pose_at, lambda t: where, truth=truth)


def stand(scene: _Scene):
    return _still(scene, "stand", {"standing", "still"}, relaxed_arms({}))


def sit(scene: _Scene):
    rng = scene.rng
    if rng.random() < 0.7:  # on a chair: thighs flat, shins about vertical
        hip = rng.uniform(80.0, 100.0)
        pose = {1: rot("x", -hip), 2: rot("x", -hip), 4: rot("x", hip + rng.uniform(-10, 10)),
                5: rot("x", hip + rng.uniform(-10, 10)), 3: rot("x", rng.uniform(-10.0, 5.0))}
    else:  # on the floor, legs out in front
        pose = {1: rot("x", -90.0), 2: rot("x", -90.0), 3: rot("x", rng.uniform(5.0, 20.0))}
    return _still(scene, "sit", {"sitting", "still"}, relaxed_arms(pose))


def squat(scene: _Scene):
    rng = scene.rng
    hip, lean = rng.uniform(95.0, 115.0), rng.uniform(25.0, 40.0)  # shins lean forward: knees over the toes
    pose = {1: rot("x", -hip), 2: rot("x", -hip), 4: rot("x", hip + lean), 5: rot("x", hip + lean),
            3: rot("x", rng.uniform(20.0, 40.0))}
    return _still(scene, "squat", {"squatting", "still"}, relaxed_arms(pose))


def kneel(scene: _Scene):
    rng = scene.rng
    instep = rng.uniform(60.0, 90.0)  # foot stretched back along the floor (90) or toes tucked under
    if rng.random() < 0.5:  # upright on both knees
        hip = rng.uniform(0.0, 15.0)
        pose = {1: rot("x", -hip), 2: rot("x", -hip), 4: rot("x", 90.0 + hip), 5: rot("x", 90.0 + hip),
                7: rot("x", instep), 8: rot("x", instep)}
    else:  # on one knee, the other foot planted
        front, back = (1, 2) if rng.random() < 0.5 else (2, 1)
        pose = {front: rot("x", -90.0), front + 3: rot("x", 90.0), back: rot("x", -rng.uniform(0.0, 10.0)),
                back + 3: rot("x", 90.0), back + 6: rot("x", instep)}
    return _still(scene, "kneel", {"kneeling", "still"}, relaxed_arms(pose))


def lie(scene: _Scene):
    rng = scene.rng
    body = rot("x", -90.0) if rng.random() < 0.6 else rot("z", 90.0 if rng.random() < 0.5 else -90.0)  # back / side
    return _still(scene, "lie", {"lying", "still"}, relaxed_arms({0: body}))


def push_up(scene: _Scene):
    incline = scene.rng.uniform(12.0, 18.0)  # body above the floor, on straight arms, toes tucked
    pose = {0: rot("x", 90.0 - incline), 16: rot("x", incline) @ rot("y", -90.0),
            17: rot("x", incline) @ rot("y", 90.0)}
    return _still(scene, "push_up", {"prone", "still"}, pose)


def _repeated(scene: _Scene, kind: str, labels: set[str], pose_at_depth):
    """An exercise: pose_at_depth(d) with d going 0 -> 1 -> 0 once per repetition, 2 to 3 repetitions."""
    rng = scene.rng
    reps = int(rng.integers(2, 4))
    period = DURATION_S / (reps + 0.4)  # the window starts and ends at rest

    def pose_at(t: float) -> Pose:
        phase = min(max(t - 0.2 * period, 0.0) / period, reps)
        raw = 0.5 - 0.5 * math.cos(2.0 * math.pi * phase)
        return pose_at_depth(min(max((raw - 0.15) / 0.7, 0.0), 1.0))  # a short pause at the top and the bottom

    where = (rng.uniform(-1.0, 1.0), -scene.distance)
    return scene.render(kind, labels | {"exercising"}, pose_at, lambda t: where, truth={"repetitions": reps})


def squats(scene: _Scene):
    deep = scene.rng.uniform(90.0, 110.0)
    return _repeated(scene, "squats", {"standing", "squatting", "still"}, lambda d: relaxed_arms(
        {1: rot("x", -deep * d), 2: rot("x", -deep * d), 4: rot("x", 1.3 * deep * d), 5: rot("x", 1.3 * deep * d),
         3: rot("x", 30.0 * d)}))


def push_ups(scene: _Scene):
    low, high = scene.rng.uniform(0.0, 3.0), scene.rng.uniform(20.0, 25.0)  # body above the floor, pivoting on
    # the toes: the chest goes down to the floor and up on straight arms

    cobra = scene.rng.random() < 0.5  # the cobra form: hips stay on the floor, the back arches the chest up

    def pose(d: float) -> Pose:
        if cobra:
            arch = 18.0 * (1.0 - d)  # per spine joint: ~55 degrees in all at the top
            return relaxed_arms({0: rot("x", 90.0), 3: rot("x", -arch), 6: rot("x", -arch), 9: rot("x", -arch)})
        incline = high + (low - high) * d
        return {0: rot("x", 90.0 - incline), 16: rot("x", incline) @ rot("y", -90.0),
                17: rot("x", incline) @ rot("y", 90.0)}
    return _repeated(scene, "push_ups", {"prone", "still"}, pose)


def lifts(scene: _Scene):
    azimuth = scene.rng.uniform(0.0, 15.0)  # straight arms from hanging in front (a bar held low) to overhead
    return _repeated(scene, "lifts", {"standing", "still", "both_arms_raised", "arm_overhead"}, lambda d: {
        16: arm_pointing("left", -70.0 + 155.0 * d, azimuth), 17: arm_pointing("right", -70.0 + 155.0 * d, azimuth)})


def raise_arm(scene: _Scene):
    rng = scene.rng
    side = rng.choice(["left", "right", "both"])
    elevation = rng.uniform(25.0, 40.0)  # raised, but well below overhead
    pose = relaxed_arms({})
    for s in (["left", "right"] if side == "both" else [side]):
        pose[16 if s == "left" else 17] = arm_elevated(s, elevation, rng.uniform(0.0, 45.0))
    label = "both_arms_raised" if side == "both" else f"{side}_arm_raised"
    return _still(scene, "raise_arm", {"standing", "still", label}, pose)


def overhead(scene: _Scene):
    rng = scene.rng
    side = rng.choice(["left", "right", "both"])
    pose = relaxed_arms({})
    for s in (["left", "right"] if side == "both" else [side]):
        pose[16 if s == "left" else 17] = arm_elevated(s, rng.uniform(72.0, 90.0), rng.uniform(0.0, 60.0))
    label = "both_arms_raised" if side == "both" else f"{side}_arm_raised"
    return _still(scene, "overhead", {"standing", "still", label, "arm_overhead"}, pose)


def point(scene: _Scene):
    rng = scene.rng
    side = rng.choice(["left", "right"])
    pose = relaxed_arms({})
    pose[16 if side == "left" else 17] = arm_pointing(side, rng.uniform(-15.0, 5.0), rng.uniform(-20.0, 50.0))
    return _still(scene, "point", {"standing", "still", f"pointing_{side}_arm"}, pose)


def wave(scene: _Scene):
    rng = scene.rng
    side = rng.choice(["left", "right"])
    sign = 1.0 if side == "left" else -1.0
    hz, swing, upper = rng.uniform(1.0, 3.0), rng.uniform(20.0, 35.0), rng.uniform(0.0, 15.0)
    phase = rng.uniform(0, 2 * math.pi)
    shoulder, elbow = (16, 18) if side == "left" else (17, 19)

    def pose_at(t: float) -> Pose:
        pose = relaxed_arms({shoulder: arm_elevated(side, upper, 20.0)})
        pose[elbow] = rot("z", sign * (90.0 - upper + swing * math.sin(2 * math.pi * hz * t + phase)))
        return pose

    where = (rng.uniform(-1.0, 1.0), -scene.distance)
    return scene.render("wave", {"standing", "still", f"{side}_arm_raised", f"waving_{side}_hand"}, pose_at,
                        lambda t: where, truth={"wave_hz": hz})


def turn(scene: _Scene):
    rng = scene.rng
    angle = rng.uniform(70.0, 180.0) * rng.choice([-1.0, 1.0])  # + to the person's left
    start, length = rng.uniform(0.3, 0.8), rng.uniform(1.2, 1.8)

    def pose_at(t: float) -> Pose:
        s = (t - start) / length
        step = 15.0 * math.sin(math.pi * min(max(s, 0.0), 1.0) * 4) if 0 < s < 1 else 0.0  # small steps
        return relaxed_arms({0: rot("y", angle * _smooth(s)), 1: rot("x", -max(step, 0)), 4: rot("x", max(step, 0)),
                             2: rot("x", min(step, 0)), 5: rot("x", -min(step, 0))})

    where = (rng.uniform(-1.0, 1.0), -scene.distance)
    label = "turning_left" if angle > 0 else "turning_right"
    return scene.render("turn", {"standing", "still", label}, pose_at, lambda t: where, truth={"turn_deg": angle})


def _gait(scene: _Scene, kind: str, speed: float, direction: str):
    """Walking or running along a straight line, `direction` towards / away from the camera or across."""
    rng = scene.rng
    running = kind == "run"
    path = speed * DURATION_S
    if direction == "towards":
        heading = rng.uniform(-15.0, 15.0) + 180.0  # 180: along +z
        start_distance = path + rng.uniform(1.5, 3.0)
    elif direction == "away":
        heading = rng.uniform(-15.0, 15.0)
        start_distance = rng.uniform(1.5, 3.0)
    else:
        wobble = math.degrees(math.asin(0.1 / speed))  # keeps the radial speed under 0.1 m/s: clearly "across"
        heading = rng.choice([-90.0, 90.0]) + rng.uniform(-wobble, wobble)
        start_distance = scene.distance + 1.0
    scene.yaw = heading + 180.0  # facing +z is yaw 0; heading 0 is -z
    move = np.array([math.sin(math.radians(heading)), -math.cos(math.radians(heading))])  # (x, z) per metre
    begin = np.array([0.0, -start_distance])
    if direction == "across":
        begin = np.array([0.0, -start_distance]) - move * path / 2
    stride_hz = (1.4 if running else 0.9) * math.sqrt(speed / (3.0 if running else 1.2))
    hip_amp, knee_amp = (40.0, 90.0) if running else (22.0, 50.0)
    phase = rng.uniform(0, 2 * math.pi)

    def pose_at(t: float) -> Pose:
        a = 2 * math.pi * stride_hz * t + phase
        pose = {1: rot("x", -hip_amp * math.sin(a)), 2: rot("x", hip_amp * math.sin(a)),
                4: rot("x", 5.0 + knee_amp * max(0.0, math.sin(a - 1.2))),
                5: rot("x", 5.0 + knee_amp * max(0.0, -math.sin(a - 1.2))),
                16: rot("x", 25.0 * math.sin(a)) @ rot("z", -80.0), 17: rot("x", -25.0 * math.sin(a)) @ rot("z", 80.0)}
        if running:
            pose[3] = rot("x", 10.0)
            pose[18], pose[19] = rot("y", -90.0), rot("y", 90.0)  # elbows bent
        return pose

    def lift_at(t: float) -> float:  # running: short flights between the steps
        return 0.04 * max(0.0, math.sin(4 * math.pi * stride_hz * t + phase)) if running else 0.0

    labels = {"running" if running else "walking", "standing"}  # standing is the posture of a walk (labels.yaml)
    sign = {"towards": -1.0, "away": 1.0, "across": 0.0}[direction]
    radial = sign * speed * abs(math.cos(math.radians(heading)))
    if direction != "across":
        labels.add("approaching_camera" if direction == "towards" else "leaving_camera")
    return scene.render(kind, labels, pose_at, lambda t: tuple(begin + move * speed * t), lift_at,
                        truth={"speed_mps": speed, "radial_speed_mps": radial})


def walk(scene: _Scene):
    return _gait(scene, "walk", scene.rng.uniform(0.8, 1.6), scene.rng.choice(["towards", "away", "across"]))


def run(scene: _Scene):
    return _gait(scene, "run", scene.rng.uniform(2.6, 3.6), scene.rng.choice(["towards", "away", "across"]))


def jump(scene: _Scene):
    rng = scene.rng
    count = int(rng.integers(1, 3))
    flight = rng.uniform(0.35, 0.5)  # s in the air: 0.15 - 0.3 m high
    starts = [0.6 + k * (flight + 0.9) for k in range(count)]

    def crouch(t: float) -> float:  # 0..1 knee bend before take-off and after landing
        return max([math.exp(-(((t - s + 0.15) / 0.12) ** 2)) + math.exp(-(((t - s - flight - 0.12) / 0.12) ** 2))
                    for s in starts])

    def pose_at(t: float) -> Pose:
        c = 50.0 * min(crouch(t), 1.0)
        return relaxed_arms({1: rot("x", -c), 2: rot("x", -c), 4: rot("x", 1.6 * c), 5: rot("x", 1.6 * c)})

    def lift_at(t: float) -> float:
        for s in starts:
            if s <= t <= s + flight:
                return 9.81 / 2 * (t - s) * (s + flight - t)
        return 0.0

    where = (rng.uniform(-1.0, 1.0), -scene.distance)
    return scene.render("jump", {"standing", "still", "jumping"}, pose_at, lambda t: where, lift_at,
                        truth={"jump_height_m": 9.81 * flight * flight / 8})


def fall(scene: _Scene):
    rng = scene.rng
    start, length = rng.uniform(0.9, 1.2), rng.uniform(0.5, 0.7)
    forwards = rng.random() < 0.5
    sign = 1.0 if forwards else -1.0
    slide = rng.uniform(0.7, 1.0)  # metres the pelvis travels while the body tips over
    begin = np.array([rng.uniform(-1.0, 1.0), -scene.distance])
    facing = scene.facing_vector()

    def progress(t: float) -> float:
        s = min(max((t - start) / length, 0.0), 1.0)
        return s * s  # accelerating, like a body tipping over

    def pose_at(t: float) -> Pose:
        f = progress(t)
        return relaxed_arms({0: rot("x", sign * 90.0 * f), 4: rot("x", 30.0 * math.sin(math.pi * f)),
                             5: rot("x", 30.0 * math.sin(math.pi * f))})

    end_label = "prone" if forwards else "lying"
    # "still": the person stands still for ~1 s before the fall starts (labels hold over their own spans)
    return scene.render("fall", {"standing", "still", end_label, "falling"}, pose_at,
                        lambda t: tuple(begin + sign * facing * slide * progress(t)))


GENERATORS = {"stand": stand, "sit": sit, "squat": squat, "kneel": kneel, "lie": lie, "push_up": push_up,
              "walk": walk, "run": run, "turn": turn, "raise_arm": raise_arm, "overhead": overhead, "point": point,
              "wave": wave, "jump": jump, "fall": fall, "squats": squats, "push_ups": push_ups, "lifts": lifts}


def synthetic_motion_set(per_kind: int = 10, seed: int = 0) -> list[LabelledMotion]:
    """`per_kind` random variations of every motion in GENERATORS, reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    model = default_smpl_model()
    return [generate(_Scene(rng, model)) for generate in GENERATORS.values() for _ in range(per_kind)]
