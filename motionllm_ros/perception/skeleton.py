"""Fixed kinematic facts of the SMPL body and of HumanML3D's 22-joint skeleton.

Constants only, no I/O: the package must work without the shared data folder. The values follow SMPL's joint
order and parents and HumanML3D's ``paramUtil.py`` (EricGuo5513/HumanML3D, MIT); ``test/test_humanml3d.py``
checks them against ``smpl_kinematics.json``.
"""

from __future__ import annotations

import numpy as np

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hand",
    "right_hand",
)

# Parent of each SMPL joint, -1 for the root (pelvis). Parents always precede their children.
SMPL_PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

# HumanML3D keeps the first 22 SMPL joints (drops the two hands).
HUMANML3D_NUM_JOINTS = 22
HUMANML3D_JOINT_NAMES: tuple[str, ...] = SMPL_JOINT_NAMES[:HUMANML3D_NUM_JOINTS]
HUMANML3D_PARENTS: tuple[int, ...] = SMPL_PARENTS[:HUMANML3D_NUM_JOINTS]
HUMANML3D_FPS = 20.0
HUMANML3D_FEATURE_DIM = 263  # 4 root + 21*3 ric + 21*6 rot + 22*3 velocity + 4 contacts

# paramUtil.t2m_kinematic_chain: right leg, left leg, spine+head, right arm, left arm (order matters for the IK).
KINEMATIC_CHAIN: tuple[tuple[int, ...], ...] = (
    (0, 2, 5, 8, 11),
    (0, 1, 4, 7, 10),
    (0, 3, 6, 9, 12, 15),
    (9, 14, 17, 19, 21),
    (9, 13, 16, 18, 20),
)

# paramUtil.t2m_raw_offsets: unit direction of each bone (joint minus parent) in the rest pose, y-up, the body
# facing +z. Row 0 (root) is zero.
T2M_RAW_OFFSETS = np.array(
    [
        [0, 0, 0],
        [1, 0, 0],
        [-1, 0, 0],
        [0, 1, 0],
        [0, -1, 0],
        [0, -1, 0],
        [0, 1, 0],
        [0, -1, 0],
        [0, -1, 0],
        [0, 1, 0],
        [0, 0, 1],
        [0, 0, 1],
        [0, 1, 0],
        [1, 0, 0],
        [-1, 0, 0],
        [0, 0, 1],
        [0, -1, 0],
        [0, -1, 0],
        [0, -1, 0],
        [0, -1, 0],
        [0, -1, 0],
        [0, -1, 0],
    ],
    dtype=np.float64,
)  # (22, 3) unit vectors
T2M_RAW_OFFSETS.setflags(write=False)

# Bone length of each joint to its parent on HumanML3D's fixed target skeleton, metres (row 0, the root, is 0).
# HumanML3D retargets every clip to the skeleton of its example clip 000021 (first frame). Those lengths are not
# published as numbers; they are measured here from an already-retargeted HumanML3D clip (new_joints/012314.npy,
# mean over its 170 frames; the per-frame relative spread is below 2e-6, the float32 storage noise).
T2M_TARGET_BONE_LENGTHS = np.array(
    [
        0.0,
        0.1030739672,
        0.1098833583,
        0.1315682314,
        0.3936231927,
        0.3901882193,
        0.1431902162,
        0.4324329960,
        0.4256434022,
        0.0573647385,
        0.1433817871,
        0.1494190530,
        0.2193600492,
        0.1374867941,
        0.1433828092,
        0.1030392085,
        0.1316139554,
        0.1229843899,
        0.2568398962,
        0.2630918580,
        0.2660118164,
        0.2698762910,
    ],
    dtype=np.float64,
)  # (22,) metres
T2M_TARGET_BONE_LENGTHS.setflags(write=False)

# The target skeleton's offsets (what HumanML3D's uniform_skeleton uses as tgt_offsets): direction times length.
T2M_TARGET_OFFSETS = T2M_RAW_OFFSETS * T2M_TARGET_BONE_LENGTHS[:, None]  # (22, 3) metres
T2M_TARGET_OFFSETS.setflags(write=False)

# Joints used by the reference (motion_representation.ipynb) for its derived quantities.
RIGHT_FOOT_JOINTS: tuple[int, int] = (8, 11)  # fid_r: right ankle, right foot
LEFT_FOOT_JOINTS: tuple[int, int] = (7, 10)  # fid_l: left ankle, left foot
# Foot-contact order in features [259:263]: left ankle, left foot, right ankle, right foot.
FOOT_JOINTS: tuple[int, int, int, int] = LEFT_FOOT_JOINTS + RIGHT_FOOT_JOINTS
# face_joint_indx: right hip, left hip, right shoulder, left shoulder; the facing direction is the horizontal
# normal of the hip and shoulder across-vectors.
FACE_JOINTS: tuple[int, int, int, int] = (2, 1, 17, 16)
# l_idx1, l_idx2: right knee and right ankle; their bone lengths (thigh + shin) scale a clip's root trajectory
# onto the target skeleton.
LEG_LENGTH_JOINTS: tuple[int, int] = (5, 8)
