"""SMPL body model: model files (load, validate, generate a synthetic one), forward kinematics and skinning.

Conventions are SMPL's: metres, y up, the rest pose is a T-pose facing +z with the body's left side at +x; pose
parameters are axis-angle vectors in radians, one per joint, each rotating its joint relative to its parent.

Model files
    The official `SMPL_{NEUTRAL,MALE,FEMALE}.pkl` (https://smpl.is.tue.mpg.de, registration required) were
    pickled under Python 2 and hold chumpy objects and scipy sparse matrices. chumpy no longer installs, and an
    unrestricted unpickler runs whatever a file asks for, so `load_smpl_model` reads pickles with an allow-list:
    numpy arrays, chumpy arrays (their pickled state carries the array, see `_chumpy_value`) and scipy CSC/CSR
    matrices (rebuilt from their state, scipy is not needed). Anything else is refused. The smplx-style `.npz`
    (same keys, plain arrays) is read with `allow_pickle=False`.

Synthetic model
    `write_synthetic_smpl` / `default_smpl_model` give a licence-free model with SMPL's keys, dtypes, shapes and
    joint tree: capsules around a rest skeleton built from HumanML3D's bone lengths, a joint regressor that
    reproduces the joints exactly and ten shape directions that lengthen bones. It is what runs when no SMPL
    file is configured, and what the tests use in place of the official files.
"""

from __future__ import annotations

import functools
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .skeleton import SMPL_PARENTS, T2M_TARGET_BONE_LENGTHS

NUM_VERTICES = 6890
NUM_FACES = 13776
NUM_JOINTS = 24
NUM_BODY_JOINTS = NUM_JOINTS - 1  # every joint but the root: body_pose is (69,)
NUM_POSE_BASIS = 9 * NUM_BODY_JOINTS  # 207 pose-corrective directions
NUM_BETAS = 10
MODEL_PARAMETER = "smpl.model"  # the config key (ROS parameter), also --smpl-model
MODEL_SOURCE = (
    "the official SMPL model files (SMPL_NEUTRAL.pkl etc.) come from https://smpl.is.tue.mpg.de "
    "(free registration required); when no file is configured the built-in synthetic model is used"
)
_ROOT_PARENT_IN_FILES = 4294967295  # SMPL's kintree_table stores the root's parent as uint32(-1)


class SmplModelError(ValueError):
    """An SMPL model file or array set is unusable; the message names the file and the key."""


class SmplModelNotFoundError(SmplModelError, FileNotFoundError):
    """The configured SMPL model file does not exist."""


# ----------------------------------------------------------------------------------------------------------------
# Rotations (vectorised over leading axes)


def skew(v: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3) cross-product matrices: skew(a) @ b == cross(a, b)."""
    out = np.zeros(v.shape[:-1] + (3, 3))
    out[..., 0, 1] = -v[..., 2]
    out[..., 0, 2] = v[..., 1]
    out[..., 1, 0] = v[..., 2]
    out[..., 1, 2] = -v[..., 0]
    out[..., 2, 0] = -v[..., 1]
    out[..., 2, 1] = v[..., 0]
    return out


def axis_angle_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle, radians -> (..., 3, 3) rotation matrices (Rodrigues, exact at small angles)."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    theta2 = np.sum(rotvec * rotvec, axis=-1)[..., None, None]
    theta = np.sqrt(theta2)
    small = theta2 < 1e-8
    safe = np.where(small, 1.0, theta)
    # sin(t)/t and (1-cos t)/t^2 with their Taylor series where t is tiny, so both are smooth through 0.
    a = np.where(small, 1.0 - theta2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - theta2 / 24.0, (1.0 - np.cos(safe)) / (safe * safe))
    k = skew(rotvec)
    return np.eye(3) + a * k + b * (k @ k)


def matrix_to_axis_angle(matrix: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle with angle in [0, pi].

    The antisymmetric part gives 2 sin(t) times the axis; t = 2 atan2(|that|, 1 + trace) is accurate everywhere
    but the axis is lost near t = pi, where the rows are redone through a unit quaternion (Shepperd's choice of
    its largest component).
    """
    m = np.asarray(matrix, dtype=np.float64)
    vector = np.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1)
    one_plus_trace = 1.0 + m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    norm = np.linalg.norm(vector, axis=-1)
    # 2 atan2(n, 1 + tr) / n, with its limit 2 / (1 + tr) as n -> 0.
    scale = np.where(
        norm < 1e-12,
        2.0 / np.maximum(one_plus_trace, 1e-12),
        2.0 * np.arctan2(norm, one_plus_trace) / np.maximum(norm, 1e-300),
    )
    out = vector * scale[..., None]
    near_pi = one_plus_trace < 0.5  # angle above ~2.4 rad
    if np.any(near_pi):
        out[near_pi] = _shepperd_axis_angle(m[near_pi])
    return out


def _shepperd_axis_angle(m: np.ndarray) -> np.ndarray:
    """(N, 3, 3) -> (N, 3) axis-angle through a unit quaternion built from its largest component."""
    trace = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    choice = np.argmax(np.stack([trace, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=-1), axis=-1)
    candidates = np.stack(
        [  # (4 choices, N, 4 components w, x, y, z), each unnormalised
            np.stack([1.0 + trace, m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]], -1),
            np.stack(
                [
                    m[:, 2, 1] - m[:, 1, 2],
                    1.0 + 2 * m[:, 0, 0] - trace,
                    m[:, 0, 1] + m[:, 1, 0],
                    m[:, 0, 2] + m[:, 2, 0],
                ],
                -1,
            ),
            np.stack(
                [
                    m[:, 0, 2] - m[:, 2, 0],
                    m[:, 0, 1] + m[:, 1, 0],
                    1.0 + 2 * m[:, 1, 1] - trace,
                    m[:, 1, 2] + m[:, 2, 1],
                ],
                -1,
            ),
            np.stack(
                [
                    m[:, 1, 0] - m[:, 0, 1],
                    m[:, 0, 2] + m[:, 2, 0],
                    m[:, 1, 2] + m[:, 2, 1],
                    1.0 + 2 * m[:, 2, 2] - trace,
                ],
                -1,
            ),
        ]
    )
    q = candidates[choice, np.arange(len(m))]
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)  # w >= 0: the angle is at most pi
    vector_norm = np.linalg.norm(q[:, 1:], axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(vector_norm, q[:, :1])
    return q[:, 1:] * angle / np.maximum(vector_norm, 1e-300)


# ----------------------------------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class SmplOutput:
    """One posed body."""

    joints: np.ndarray  # (24, 3) metres, y up, transl applied
    vertices: np.ndarray | None  # (6890, 3) metres when asked for, else None


@dataclass(frozen=True, eq=False)
class SmplModel:
    """The arrays of an SMPL model file (float64 / int64), validated on construction."""

    v_template: np.ndarray  # (6890, 3) metres, rest-pose mesh of the mean shape
    shapedirs: np.ndarray  # (6890, 3, n_betas) metres per unit beta
    posedirs: np.ndarray  # (6890, 3, 207) metres per unit of the (R - I) pose feature
    J_regressor: np.ndarray  # (24, 6890) dense; joints = J_regressor @ vertices
    weights: np.ndarray  # (6890, 24) linear blend skinning weights, rows sum to 1
    parents: np.ndarray  # (24,) int64, -1 for the root
    faces: np.ndarray  # (13776, 3) int64 vertex indices
    source: str = "synthetic"  # file the arrays came from, named in error messages and logs
    # Derived once: joints as a linear function of betas, J(betas) = joint_template + joint_shapedirs @ betas.
    joint_template: np.ndarray = field(init=False, repr=False)  # (24, 3) metres
    joint_shapedirs: np.ndarray = field(init=False, repr=False)  # (24, 3, n_betas) metres per unit beta

    def __post_init__(self) -> None:
        n_betas = self.shapedirs.shape[-1] if getattr(self.shapedirs, "ndim", 0) == 3 else -1
        expected = {
            "v_template": (NUM_VERTICES, 3),
            "shapedirs": (NUM_VERTICES, 3, max(n_betas, 1)),
            "posedirs": (NUM_VERTICES, 3, NUM_POSE_BASIS),
            "J_regressor": (NUM_JOINTS, NUM_VERTICES),
            "weights": (NUM_VERTICES, NUM_JOINTS),
            "parents": (NUM_JOINTS,),
            "faces": (NUM_FACES, 3),
        }
        for name, shape in expected.items():
            array = getattr(self, name)
            if not isinstance(array, np.ndarray) or array.shape != shape:
                actual = array.shape if isinstance(array, np.ndarray) else type(array).__name__
                raise SmplModelError(f"{self.source}: '{name}' has shape {actual}, expected {shape}")
            if not np.all(np.isfinite(array)):
                raise SmplModelError(f"{self.source}: '{name}' contains NaN or infinite values")
        if tuple(int(p) for p in self.parents) != SMPL_PARENTS:
            raise SmplModelError(
                f"{self.source}: joint tree (kintree_table) is {self.parents.tolist()}, expected SMPL's "
                f"{list(SMPL_PARENTS)}"
            )
        if self.faces.min() < 0 or self.faces.max() >= NUM_VERTICES:
            raise SmplModelError(f"{self.source}: 'faces' index vertices outside 0..{NUM_VERTICES - 1}")
        object.__setattr__(self, "joint_template", self.J_regressor @ self.v_template)
        object.__setattr__(self, "joint_shapedirs", np.einsum("jv,vcb->jcb", self.J_regressor, self.shapedirs))

    @property
    def num_betas(self) -> int:
        return int(self.shapedirs.shape[-1])

    def _betas(self, betas: np.ndarray | None) -> np.ndarray:
        """Betas padded with zeros to the model's count (fewer given = the rest are the mean shape)."""
        out = np.zeros(self.num_betas)
        if betas is not None:
            betas = np.asarray(betas, dtype=np.float64).reshape(-1)
            if betas.size > self.num_betas:
                raise ValueError(f"betas has {betas.size} values, the model {self.source} has {self.num_betas}")
            out[: betas.size] = betas
        return out

    def rest_joints(self, betas: np.ndarray | None = None) -> np.ndarray:
        """(24, 3) metres: joint positions of the rest T-pose for a body shape."""
        return self.joint_template + self.joint_shapedirs @ self._betas(betas)

    def forward_kinematics(
        self,
        betas: np.ndarray | None,
        global_orient: np.ndarray,
        body_pose: np.ndarray,
        transl: np.ndarray | None = None,
        *,
        return_vertices: bool = False,
    ) -> SmplOutput:
        """Pose the body: global_orient (3,) and body_pose (69,) axis-angle radians, transl (3,) metres.

        Same maths as SMPL (and smplx.lbs): joints from the shaped rest mesh, rigid transforms down the tree,
        vertices by linear blend skinning of the shaped mesh plus the pose correctives.
        """
        pose = np.concatenate([_vector(global_orient, 3, "global_orient"), _vector(body_pose, 69, "body_pose")])
        offset = np.zeros(3) if transl is None else _vector(transl, 3, "transl")
        beta = self._betas(betas)
        rotations = axis_angle_to_matrix(pose.reshape(NUM_JOINTS, 3))  # (24, 3, 3)
        rest = self.joint_template + self.joint_shapedirs @ beta  # (24, 3)
        world_rotations = np.empty_like(rotations)
        joints = np.empty_like(rest)
        for j, parent in enumerate(self.parents):
            if parent < 0:
                world_rotations[j] = rotations[j]
                joints[j] = rest[j]
            else:
                world_rotations[j] = world_rotations[parent] @ rotations[j]
                joints[j] = joints[parent] + world_rotations[parent] @ (rest[j] - rest[parent])
        vertices = None
        if return_vertices:
            shaped = self.v_template + self.shapedirs @ beta
            pose_feature = (rotations[1:] - np.eye(3)).reshape(-1)  # (207,)
            posed = shaped + self.posedirs @ pose_feature
            # Each joint's transform maps rest-pose points to posed points: x -> R x + (p - R J).
            translations = joints - np.einsum("jab,jb->ja", world_rotations, rest)
            blended_rotations = np.einsum("vj,jab->vab", self.weights, world_rotations)
            vertices = np.einsum("vab,vb->va", blended_rotations, posed) + self.weights @ translations + offset
        return SmplOutput(joints=joints + offset, vertices=vertices)


def _vector(value: Any, size: int, name: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.size != size:
        raise ValueError(f"{name} must have {size} values, got {array.size}")
    return array


# ----------------------------------------------------------------------------------------------------------------
# Loading


def load_smpl_model(path: str | Path, num_betas: int = NUM_BETAS) -> SmplModel:
    """Read an SMPL model from an official `.pkl` (chumpy not needed) or an smplx-style `.npz`.

    Keeps the first `num_betas` shape directions (the files carry 10 or 300). Raises `SmplModelNotFoundError`
    for a missing file and `SmplModelError` for a corrupt, truncated, mis-shaped or disallowed one.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        kind = "is a directory, not a model file" if path.is_dir() else "does not exist"
        raise SmplModelNotFoundError(f"SMPL model '{path}' (parameter '{MODEL_PARAMETER}') {kind}; {MODEL_SOURCE}")
    with path.open("rb") as stream:
        is_zip = stream.read(4) == b"PK\x03\x04"
    arrays = _read_npz(path) if is_zip else _read_pickle(path)
    missing = [
        key
        for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
        if key not in arrays
    ]
    if missing:
        raise SmplModelError(f"{path}: not an SMPL model, keys {missing} are missing")
    shapedirs = _array(arrays, "shapedirs", path)
    if shapedirs.ndim != 3 or shapedirs.shape[-1] < num_betas:
        raise SmplModelError(
            f"{path}: 'shapedirs' has shape {shapedirs.shape}, expected ({NUM_VERTICES}, 3, >={num_betas})"
        )
    kintree = _array(arrays, "kintree_table", path, dtype=np.int64)
    if kintree.shape != (2, NUM_JOINTS):
        raise SmplModelError(f"{path}: 'kintree_table' has shape {kintree.shape}, expected (2, {NUM_JOINTS})")
    parents = kintree[0].copy()
    parents[0] = -1  # files store the root's parent as uint32(-1) or -1
    faces = _array(arrays, "f", path, dtype=np.int64)
    return SmplModel(
        v_template=_array(arrays, "v_template", path),
        shapedirs=np.ascontiguousarray(shapedirs[:, :, :num_betas]),
        posedirs=_array(arrays, "posedirs", path),
        J_regressor=_array(arrays, "J_regressor", path),
        weights=_array(arrays, "weights", path),
        parents=parents,
        faces=faces,
        source=str(path),
    )


def _array(arrays: dict[str, Any], key: str, path: Path, dtype: type = np.float64) -> np.ndarray:
    value = arrays[key]
    if isinstance(value, _SparseMatrix):
        value = value.to_dense(f"{path}: '{key}'")
    array = np.asarray(value) if isinstance(value, np.ndarray) else None
    if array is None or array.dtype.kind not in "biuf":
        kind = f"dtype {array.dtype}" if array is not None else type(value).__name__
        raise SmplModelError(f"{path}: '{key}' is not a numeric array ({kind})")
    return np.ascontiguousarray(array, dtype=dtype)


def _read_npz(path: Path) -> dict[str, Any]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files if key in _MODEL_KEYS}
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise SmplModelError(f"{path}: truncated or corrupt .npz file ({error})") from error
    except ValueError as error:  # an object array where a numeric one belongs: would need pickle
        raise SmplModelError(f"{path}: .npz holds non-numeric data ({error})") from error


_MODEL_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")


# The pickle allow-list. Each entry maps a (module, name) that official or re-saved SMPL files reference to the
# object it may resolve to; numpy's reconstructors are taken from numpy's own pickling so they match the installed
# version (numpy 1 writes numpy.core.*, numpy 2 numpy._core.*).
_NP_RECONSTRUCT = np.zeros(1).__reduce__()[0]
_NP_SCALAR = np.float64(0).__reduce__()[0]
_NP_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]


def _encode_latin1(text: str, encoding: str = "latin1") -> bytes:
    """Python 3 protocol-2 pickles store bytes as `_codecs.encode(str, 'latin1')`; only that is allowed."""
    if not isinstance(text, str) or encoding != "latin1":
        raise pickle.UnpicklingError("_codecs.encode is only allowed as encode(str, 'latin1')")
    return text.encode("latin1")


class _Stub:
    """An object from a pickle, kept as its class name and pickled state; none of the class's code runs."""

    kind = ""

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _ChumpyNode(_Stub):
    pass


class _SparseMatrix(_Stub):
    def to_dense(self, what: str) -> np.ndarray:
        """Rebuild a scipy CSC/CSR matrix from its pickled attributes (data, indices, indptr, shape)."""
        state = self.state if isinstance(self.state, dict) else {}
        try:
            rows, cols = (int(n) for n in state.get("_shape", state.get("shape")))
            data = np.asarray(state["data"], dtype=np.float64)
            indices = np.asarray(state["indices"], dtype=np.int64)
            indptr = np.asarray(state["indptr"], dtype=np.int64)
        except (KeyError, TypeError, ValueError) as error:
            raise SmplModelError(f"{what}: unreadable sparse matrix ({error})") from error
        compressed = cols if self.kind == "csc" else rows
        if indptr.shape != (compressed + 1,) or indices.shape != data.shape or indptr[-1] != data.size:
            raise SmplModelError(f"{what}: inconsistent sparse matrix arrays")
        outer = np.repeat(np.arange(compressed), np.diff(indptr))
        dense = np.zeros((rows, cols))
        if indices.size and (indices.min() < 0 or indices.max() >= (rows if self.kind == "csc" else cols)):
            raise SmplModelError(f"{what}: sparse matrix indices out of range")
        if self.kind == "csc":
            np.add.at(dense, (indices, outer), data)
        else:
            np.add.at(dense, (outer, indices), data)
        return dense


@functools.cache
def _stub_class(base: type, kind: str) -> type:
    return type(f"Pickled[{kind}]", (base,), {"kind": kind})


def _reconstructor(cls: type, base: type, state: Any = None) -> Any:
    """copy_reg._reconstructor, as Python 2 protocol 0/1 pickles use it, restricted to our stubs."""
    if not (isinstance(cls, type) and issubclass(cls, _Stub)) or base is not object:
        raise pickle.UnpicklingError(f"refusing to reconstruct {cls!r}")
    return cls()


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _NP_RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _NP_RECONSTRUCT,
    ("numpy.core.multiarray", "scalar"): _NP_SCALAR,
    ("numpy._core.multiarray", "scalar"): _NP_SCALAR,
    ("numpy.core.numeric", "_frombuffer"): _NP_FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _NP_FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _encode_latin1,
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    ("__builtin__", "set"): set,
    ("builtins", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    ("builtins", "frozenset"): frozenset,
}
_SPARSE_CLASSES = {"csc_matrix": "csc", "csc_array": "csc", "csr_matrix": "csr", "csr_array": "csr"}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "chumpy" or module.startswith("chumpy."):
            return _stub_class(_ChumpyNode, name)
        if module.startswith("scipy.sparse") and name in _SPARSE_CLASSES:
            return _stub_class(_SparseMatrix, _SPARSE_CLASSES[name])
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"disallowed class or function {module}.{name}") from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent references are not allowed")


def _read_pickle(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            data = _RestrictedUnpickler(stream, encoding="latin1").load()
    except pickle.UnpicklingError as error:
        if str(error).startswith("disallowed"):
            raise SmplModelError(f"{path}: refused to load: {error}") from error
        raise SmplModelError(f"{path}: truncated or corrupt pickle ({error})") from error
    except (EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError, MemoryError) as error:
        raise SmplModelError(f"{path}: truncated or corrupt pickle ({type(error).__name__}: {error})") from error
    if not isinstance(data, dict):
        raise SmplModelError(f"{path}: not an SMPL model (the pickle holds a {type(data).__name__}, not a dict)")
    return {
        key: _chumpy_value(value, f"{path}: '{key}'") if isinstance(value, _ChumpyNode) else value
        for key, value in data.items()
        if key in _MODEL_KEYS
    }


def _chumpy_value(node: Any, what: str) -> Any:
    """The array a pickled chumpy object stands for.

    chumpy pickles a Ch as its `__dict__` minus caches; a plain `Ch` keeps its array under 'x'. Derived nodes keep
    their operand under 'a': the pure re-orderings that model files use (MANO's shapedirs is a `Select`) are
    evaluated here exactly as chumpy's `compute_r` does; any other expression is refused rather than guessed.
    """
    if not isinstance(node, _ChumpyNode):
        return node
    state = node.state if isinstance(getattr(node, "state", None), dict) else {}
    try:
        if node.kind == "Ch":
            return np.asarray(_chumpy_value(state["x"], what))
        operand = np.asarray(_chumpy_value(state["a"], what)) if node.kind in _CHUMPY_REORDERINGS else None
        if node.kind == "Select":
            selected = operand.ravel()[np.asarray(state["idxs"])]
            return selected.reshape(state["preferred_shape"]) if "preferred_shape" in state else selected
        if node.kind == "Reshape":
            return operand.reshape(state["newshape"])
        if node.kind == "transpose":
            return np.transpose(operand, state.get("axes"))
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise SmplModelError(f"{what}: unreadable chumpy {node.kind} ({type(error).__name__}: {error})") from error
    raise SmplModelError(
        f"{what}: chumpy expression '{node.kind}' is not supported (only Ch and the re-orderings "
        f"{sorted(_CHUMPY_REORDERINGS)}); convert the file to .npz with plain arrays"
    )


_CHUMPY_REORDERINGS = frozenset({"Select", "Reshape", "transpose"})


# ----------------------------------------------------------------------------------------------------------------
# The synthetic model
#
# Skeleton points: the 24 SMPL joints followed by 5 end points that close the mesh beyond the leaf joints. Each
# non-root point is the end of one bone and carries one capsule from its parent point to itself; the capsule's
# vertices follow the parent joint (a bone moves with the joint at its start).

_END_POINT_PARENTS = (15, 10, 11, 22, 23)  # head top, left / right toe tip, left / right finger tip
_POINT_PARENTS = SMPL_PARENTS + _END_POINT_PARENTS
_NUM_POINTS = len(_POINT_PARENTS)  # 29

# Rest direction of each bone (normalised below), y up, facing +z, body's left = +x. HumanML3D's T2M raw offsets
# (skeleton.T2M_RAW_OFFSETS) where they describe SMPL's rest pose; they are a convention for IK, not a body, so
# these are changed: hips sit below the pelvis joint (T2M: straight out), spine and neck follow a slight S,
# the collars rise from spine3 and the shoulders sit beside them (T2M: straight out / hanging down), the arms are
# SMPL's horizontal T-pose (T2M: hanging down), the ball of the foot is below and in front of the ankle (T2M:
# level) and the head joint above and in front of the neck (T2M: level).
_REST_DIRECTIONS = np.array(
    [
        [0.0, 0.0, 0.0],  # pelvis (root)
        [0.85, -0.5, 0.0],  # left hip
        [-0.85, -0.5, 0.0],  # right hip
        [0.0, 1.0, -0.2],  # spine1
        [0.0, -1.0, 0.0],  # left knee
        [0.0, -1.0, 0.0],  # right knee
        [0.0, 1.0, 0.1],  # spine2
        [0.0, -1.0, 0.0],  # left ankle
        [0.0, -1.0, 0.0],  # right ankle
        [0.0, 1.0, 0.2],  # spine3
        [0.0, -0.25, 0.97],  # left foot
        [0.0, -0.25, 0.97],  # right foot
        [0.0, 1.0, -0.2],  # neck
        [0.45, 0.87, -0.2],  # left collar
        [-0.45, 0.87, -0.2],  # right collar
        [0.0, 0.8, 0.6],  # head
        [1.0, 0.2, 0.0],  # left shoulder
        [-1.0, 0.2, 0.0],  # right shoulder
        [1.0, 0.0, 0.0],  # left elbow
        [-1.0, 0.0, 0.0],  # right elbow
        [1.0, 0.0, 0.0],  # left wrist
        [-1.0, 0.0, 0.0],  # right wrist
        [1.0, 0.0, 0.0],  # left hand
        [-1.0, 0.0, 0.0],  # right hand
        [0.0, 1.0, 0.15],  # head top
        [0.0, -0.2, 1.0],  # left toe tip
        [0.0, -0.2, 1.0],  # right toe tip
        [1.0, 0.0, 0.0],  # left finger tip
        [-1.0, 0.0, 0.0],  # right finger tip
    ]
)
# Bone lengths, metres: HumanML3D's target skeleton for the 22 body joints; the hands (not in HumanML3D) and the
# end points are typical adult sizes.
_BONE_LENGTHS = np.concatenate([T2M_TARGET_BONE_LENGTHS, [0.085, 0.085, 0.13, 0.05, 0.05, 0.08, 0.08]])
# Capsule radius of the bone ending at each point, metres (index 0 unused).
_RADII = np.array(
    [
        0.0,
        0.085,
        0.085,
        0.11,
        0.07,
        0.07,
        0.12,
        0.05,
        0.05,
        0.12,
        0.03,
        0.03,
        0.06,
        0.055,
        0.055,
        0.055,
        0.05,
        0.05,
        0.045,
        0.045,
        0.035,
        0.035,
        0.03,
        0.03,
        0.095,
        0.025,
        0.025,
        0.02,
        0.02,
    ]
)
_PELVIS_REST = np.array([0.0, -0.22, 0.0])  # where SMPL's template has its pelvis: the floor is ~0.96 m below

# Shape directions: per unit beta, the relative change of each bone's length and of each capsule's radius.
_SHAPE_BONES: tuple[tuple[tuple[int, ...], float, float], ...] = (
    # (bones = end points, length change, radius change) per beta; SMPL's betas are ~1 standard deviation.
    (tuple(range(1, _NUM_POINTS)), 0.04, 0.04),  # 0 overall size (height)
    (tuple(range(1, _NUM_POINTS)), 0.0, 0.12),  # 1 girth
    ((4, 5, 7, 8), 0.04, 0.0),  # 2 leg length
    ((18, 19, 20, 21, 22, 23), 0.04, 0.0),  # 3 arm length
    ((13, 14, 16, 17), 0.08, 0.0),  # 4 shoulder width
    ((1, 2), 0.08, 0.0),  # 5 hip width
    ((3, 6, 9, 12), 0.04, 0.0),  # 6 torso length
    ((15, 24), 0.06, 0.06),  # 7 head size
    ((10, 11, 25, 26), 0.06, 0.0),  # 8 foot length
    ((4, 5), 0.05, 0.0),  # 9 thigh against shin: thighs longer ...
)
_SHAPE_EXTRA: dict[int, tuple[tuple[int, ...], float]] = {9: ((7, 8), -0.05)}  # ... and shins shorter
_SEGMENTS = 17  # vertices per ring; 17 * 402 rings + 2 poles * 28 capsules = 6890 vertices
_CAP_RINGS = 2  # rings per hemispherical end cap (the poles come on top)
_BLEND = 0.2  # fraction of a bone, from each end, over which skinning blends into the neighbouring joint


def _rest_points() -> np.ndarray:
    """(29, 3) metres: rest positions of the joints and end points."""
    points = np.zeros((_NUM_POINTS, 3))
    points[0] = _PELVIS_REST
    directions = _REST_DIRECTIONS[1:] / np.linalg.norm(_REST_DIRECTIONS[1:], axis=1, keepdims=True)
    for point in range(1, _NUM_POINTS):
        points[point] = points[_POINT_PARENTS[point]] + _BONE_LENGTHS[point] * directions[point - 1]
    return points


def _shape_tables(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(10, 29, 3) point displacement and (10, 29) relative radius change per unit beta."""
    bone_scale = np.zeros((NUM_BETAS, _NUM_POINTS))
    radius_scale = np.zeros((NUM_BETAS, _NUM_POINTS))
    for beta, (bones, length, radius) in enumerate(_SHAPE_BONES):
        bone_scale[beta, list(bones)] = length
        radius_scale[beta, list(bones)] = radius
    for beta, (bones, length) in _SHAPE_EXTRA.items():
        bone_scale[beta, list(bones)] = length
    displacement = np.zeros((NUM_BETAS, _NUM_POINTS, 3))
    for point in range(1, _NUM_POINTS):
        parent = _POINT_PARENTS[point]
        bone = points[point] - points[parent]
        displacement[:, point] = displacement[:, parent] + bone_scale[:, point, None] * bone
    return displacement, radius_scale


def _ring_counts() -> np.ndarray:
    """Rings per capsule (28,), summing to 402: two cap rings per end plus cylinder rings by bone length."""
    total_rings = (NUM_VERTICES - 2 * (_NUM_POINTS - 1)) // _SEGMENTS
    assert total_rings * _SEGMENTS + 2 * (_NUM_POINTS - 1) == NUM_VERTICES
    minimum = 2 * _CAP_RINGS + 2
    spare = total_rings - minimum * (_NUM_POINTS - 1)
    share = spare * _BONE_LENGTHS[1:] / _BONE_LENGTHS[1:].sum()
    extra = np.floor(share).astype(int)
    extra[np.argsort(share - extra)[::-1][: spare - extra.sum()]] += 1  # largest remainders
    return minimum + extra


def _perpendicular(axis: np.ndarray) -> np.ndarray:
    helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(axis, helper)
    return u / np.linalg.norm(u)


def _synthetic_arrays() -> dict[str, np.ndarray]:
    """All arrays of the synthetic model under SMPL's file keys."""
    points = _rest_points()
    displacement, radius_scale = _shape_tables(points)
    rings = _ring_counts()
    angles = 2 * np.pi * np.arange(_SEGMENTS) / _SEGMENTS
    cap_polar = np.pi / 2 * np.arange(1, _CAP_RINGS + 1) / (_CAP_RINGS + 1)  # from the pole, equator excluded

    vertices, shapedirs, weights, faces = [], [], [], []
    j_regressor = np.zeros((NUM_JOINTS, NUM_VERTICES))
    first_vertex = np.zeros(_NUM_POINTS, dtype=int)  # start pole of the capsule ending at each point
    offset = 0
    for point in range(1, _NUM_POINTS):
        start, radius, ring_count = _POINT_PARENTS[point], _RADII[point], rings[point - 1]
        axis = points[point] - points[start]
        axis /= np.linalg.norm(axis)
        u = _perpendicular(axis)
        w = np.cross(axis, u)
        around = np.cos(angles)[:, None] * u + np.sin(angles)[:, None] * w  # (S, 3) unit radial directions
        # Each vertex = lerp(start, end, t) + radius * unit, with unit fixed: shape changes move it linearly.
        ts, units = [0.0], [-axis[None]]  # start pole
        for polar in cap_polar:
            ts.append(0.0)
            units.append(-np.cos(polar) * axis + np.sin(polar) * around)
        for t in np.linspace(0.0, 1.0, ring_count - 2 * _CAP_RINGS):
            ts.append(t)
            units.append(around)
        for polar in cap_polar[::-1]:
            ts.append(1.0)
            units.append(np.cos(polar) * axis + np.sin(polar) * around)
        ts.append(1.0)
        units.append(axis[None])
        t = np.concatenate([np.full(len(unit), t_value) for t_value, unit in zip(ts, units)])
        unit = np.concatenate(units)
        count = len(t)
        vertices.append((1 - t)[:, None] * points[start] + t[:, None] * points[point] + radius * unit)
        shapedirs.append(
            (1 - t)[:, None, None] * displacement[:, start].T
            + t[:, None, None] * displacement[:, point].T
            + radius * unit[:, :, None] * radius_scale[:, point]
        )
        weights.append(_capsule_weights(start, point, t))
        faces.append(_capsule_faces(offset, ring_count))
        equator = offset + 1 + _CAP_RINGS * _SEGMENTS + np.arange(_SEGMENTS)  # the ring at t = 0
        if not j_regressor[start].any():
            j_regressor[start, equator] = 1.0 / _SEGMENTS  # its centroid is the start joint, for any shape
        first_vertex[point] = offset
        offset += count
    assert offset == NUM_VERTICES
    v_template = np.concatenate(vertices)
    face_array = _bridge_capsules(np.concatenate(faces), first_vertex, rings, v_template)
    kintree = np.array([list(SMPL_PARENTS), list(range(NUM_JOINTS))], dtype=np.int64)
    kintree[0, 0] = _ROOT_PARENT_IN_FILES
    return {
        "v_template": v_template,
        "shapedirs": np.concatenate(shapedirs),
        "posedirs": np.zeros((NUM_VERTICES, 3, NUM_POSE_BASIS)),  # rigid capsules need no pose correctives
        "J_regressor": j_regressor,
        "weights": np.concatenate(weights),
        "kintree_table": kintree,
        "f": face_array.astype(np.uint32),
        "J": j_regressor @ v_template,
    }


def _capsule_weights(start: int, end: int, t: np.ndarray) -> np.ndarray:
    """(n, 24) skinning weights of a capsule's vertices: its start joint, blended half-way into the parent joint
    at the start and into the end joint at the end, so that bends do not tear the surface."""
    weights = np.zeros((len(t), NUM_JOINTS))
    weights[:, start] = 1.0
    parent = SMPL_PARENTS[start]
    if parent >= 0:
        into_parent = 0.5 * np.clip(1.0 - t / _BLEND, 0.0, 1.0)
        weights[:, parent] += into_parent
        weights[:, start] -= into_parent
    if end < NUM_JOINTS:
        into_end = 0.5 * np.clip((t - (1.0 - _BLEND)) / _BLEND, 0.0, 1.0)
        weights[:, end] += into_end
        weights[:, start] -= into_end
    return weights


def _capsule_faces(offset: int, ring_count: int) -> np.ndarray:
    """(2 * S * rings, 3) outward-facing triangles of one capsule: start fan, ring quads, end fan."""
    s = np.arange(_SEGMENTS)
    s_next = (s + 1) % _SEGMENTS

    def ring(r: int, k: np.ndarray) -> np.ndarray:  # vertex k of ring r
        return offset + 1 + r * _SEGMENTS + k

    end_pole = offset + 1 + ring_count * _SEGMENTS
    tris = [np.stack([np.full(_SEGMENTS, offset), ring(0, s_next), ring(0, s)], axis=1)]
    for r in range(ring_count - 1):
        tris.append(np.stack([ring(r, s), ring(r, s_next), ring(r + 1, s)], axis=1))
        tris.append(np.stack([ring(r, s_next), ring(r + 1, s_next), ring(r + 1, s)], axis=1))
    last = ring_count - 1
    tris.append(np.stack([ring(last, s), ring(last, s_next), np.full(_SEGMENTS, end_pole)], axis=1))
    return np.concatenate(tris)


def _bridge_capsules(
    faces: np.ndarray, first_vertex: np.ndarray, rings: np.ndarray, vertices: np.ndarray
) -> np.ndarray:
    """Join the 28 closed capsules into one closed surface, as SMPL's mesh is one (6890 vertices, 13776 faces).

    Each capsule is joined to the capsule that ends at its start joint (the pelvis capsules to the left hip's) by
    removing one pole-fan triangle from each and connecting the two triangular holes with a six-triangle tube:
    -2 + 6 faces per join gives 2 * 6890 - 4 = 13776 faces, a sphere-like surface without boundary.
    """
    capsule_faces = 2 * _SEGMENTS * rings  # faces per capsule
    face_start = np.concatenate([[0], np.cumsum(capsule_faces)[:-1]])  # (28,) first face of each capsule
    removed, added = set(), []

    def fan_face(point: int, at_start: bool, near: np.ndarray) -> int:
        capsule = point - 1
        base = face_start[capsule] if at_start else face_start[capsule] + capsule_faces[capsule] - _SEGMENTS
        candidates = [base + k for k in range(_SEGMENTS) if base + k not in removed]
        centres = vertices[faces[candidates]].mean(axis=1)
        chosen = candidates[int(np.argmin(np.linalg.norm(centres - near, axis=1)))]
        removed.add(chosen)
        return chosen

    for point in range(2, _NUM_POINTS):
        start = _POINT_PARENTS[point]
        host, host_at_start = (1, True) if start == 0 else (start, False)
        child_pole = vertices[first_vertex[point]]
        a = faces[fan_face(host, host_at_start, child_pole)]
        b = faces[fan_face(point, True, vertices[a].mean(axis=0))]
        # The tube pairs a[i] with b[(c - i) % 3], which keeps the surface consistently oriented; pick the c that
        # gives the shortest edges.
        c = min(
            range(3), key=lambda c: sum(np.linalg.norm(vertices[a[i]] - vertices[b[(c - i) % 3]]) for i in range(3))
        )
        for i in range(3):
            added.append((a[i], a[(i + 1) % 3], b[(c - i - 1) % 3]))
            added.append((a[i], b[(c - i - 1) % 3], b[(c - i) % 3]))
    keep = np.ones(len(faces), dtype=bool)
    keep[list(removed)] = False
    result = np.concatenate([faces[keep], np.array(added)])
    assert result.shape == (NUM_FACES, 3)
    return result


def _model_from_arrays(arrays: dict[str, np.ndarray], source: str) -> SmplModel:
    parents = arrays["kintree_table"][0].astype(np.int64)
    parents[0] = -1
    return SmplModel(
        v_template=arrays["v_template"],
        shapedirs=arrays["shapedirs"],
        posedirs=arrays["posedirs"],
        J_regressor=arrays["J_regressor"],
        weights=arrays["weights"],
        parents=parents,
        faces=arrays["f"].astype(np.int64),
        source=source,
    )


def write_synthetic_smpl(path: str | Path, fmt: str = "npz") -> Path:
    """Write the synthetic model as an smplx-style `.npz` or a plain-array SMPL `.pkl`; returns the path.

    Both carry SMPL's keys (v_template, shapedirs, posedirs, J_regressor, weights, kintree_table, f, J) with
    SMPL's dtypes and shapes; they load with `load_smpl_model` and with smplx.
    """
    path = Path(path)
    arrays = _synthetic_arrays()
    if fmt == "npz":
        with path.open("wb") as stream:  # a file object keeps numpy from appending '.npz' to the name
            np.savez_compressed(stream, **arrays)
    elif fmt == "pkl":
        with path.open("wb") as stream:
            pickle.dump(arrays, stream, protocol=2)
    else:
        raise ValueError(f"fmt must be 'npz' or 'pkl', got {fmt!r}")
    return path


@functools.lru_cache(maxsize=1)
def default_smpl_model() -> SmplModel:
    """The synthetic model, built once in memory: what runs when no SMPL file is configured."""
    return _model_from_arrays(_synthetic_arrays(), source="built-in synthetic SMPL model")
