"""SMPL model files: the synthetic model, the chumpy-free pickle loader, the .npz loader, smplx parity, errors."""

from __future__ import annotations

import pickle
import sys
import types
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from motionllm_ros.perception.skeleton import SMPL_PARENTS, T2M_TARGET_BONE_LENGTHS
from motionllm_ros.perception.smpl import (
    NUM_FACES,
    NUM_VERTICES,
    SmplModel,
    SmplModelError,
    SmplModelNotFoundError,
    axis_angle_to_matrix,
    default_smpl_model,
    load_smpl_model,
    matrix_to_axis_angle,
    write_synthetic_smpl,
)

MODEL_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")


@pytest.fixture(scope="module")
def npz_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_smpl(tmp_path_factory.mktemp("smpl") / "SMPL_NEUTRAL.npz")


@pytest.fixture(scope="module")
def pkl_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_smpl(tmp_path_factory.mktemp("smpl") / "SMPL_NEUTRAL.pkl", fmt="pkl")


@pytest.fixture(scope="module")
def model(npz_path: Path) -> SmplModel:
    return load_smpl_model(npz_path)


def _random_parameters(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=10), rng.normal(scale=0.5, size=3), rng.normal(scale=0.4, size=69), rng.normal(size=3)


# -- the synthetic model -------------------------------------------------------------------------------------------


def test_synthetic_file_has_smpl_keys_dtypes_and_shapes(npz_path: Path) -> None:
    with np.load(npz_path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    expected = {
        "v_template": ((NUM_VERTICES, 3), np.float64),
        "shapedirs": ((NUM_VERTICES, 3, 10), np.float64),
        "posedirs": ((NUM_VERTICES, 3, 207), np.float64),
        "J_regressor": ((24, NUM_VERTICES), np.float64),
        "weights": ((NUM_VERTICES, 24), np.float64),
        "kintree_table": ((2, 24), np.int64),
        "f": ((NUM_FACES, 3), np.uint32),
        "J": ((24, 3), np.float64),
    }
    assert set(arrays) == set(expected)
    for key, (shape, dtype) in expected.items():
        assert arrays[key].shape == shape, key
        assert arrays[key].dtype == dtype, key
    assert arrays["kintree_table"][0, 0] == 4294967295  # the root's parent as SMPL's files store it
    assert tuple(arrays["kintree_table"][0, 1:]) == SMPL_PARENTS[1:]
    np.testing.assert_allclose(arrays["weights"].sum(axis=1), 1.0)
    np.testing.assert_allclose(arrays["J_regressor"].sum(axis=1), 1.0)
    assert arrays["weights"].min() >= 0 and arrays["J_regressor"].min() >= 0


def test_synthetic_mesh_is_one_closed_oriented_surface(model: SmplModel) -> None:
    """Like SMPL's mesh: every edge shared by exactly two faces, in opposite directions, Euler characteristic 2."""
    directed = Counter()
    for a, b, c in model.faces.tolist():
        directed.update([(a, b), (b, c), (c, a)])
    assert max(directed.values()) == 1
    assert all((b, a) in directed for a, b in directed)
    edges = len(directed) // 2
    assert NUM_VERTICES - edges + NUM_FACES == 2
    assert len(np.unique(model.faces)) == NUM_VERTICES


def test_synthetic_rest_skeleton_is_an_adult_t_pose(model: SmplModel) -> None:
    joints = model.rest_joints()
    bones = np.linalg.norm(joints[1:22] - joints[list(SMPL_PARENTS[1:22])], axis=1)
    np.testing.assert_allclose(bones, T2M_TARGET_BONE_LENGTHS[1:], rtol=1e-12)  # HumanML3D's skeleton
    floor = model.v_template[:, 1].min()
    assert 0.85 < joints[0, 1] - floor < 1.0  # pelvis height when standing
    assert 1.65 < model.v_template[:, 1].max() - floor < 1.9  # body height
    assert joints[1, 0] > 0 > joints[2, 0] and joints[16, 0] > 0 > joints[17, 0]  # left side at +x
    assert joints[10, 2] > joints[7, 2]  # feet point forward (+z)
    np.testing.assert_allclose(joints[[20, 21], 1], joints[[16, 17], 1])  # arms level: the T-pose


def test_joint_regressor_follows_every_shape(model: SmplModel) -> None:
    betas = np.random.default_rng(0).normal(size=10)
    shaped = model.v_template + model.shapedirs @ betas
    np.testing.assert_allclose(model.J_regressor @ shaped, model.rest_joints(betas), atol=1e-12)


def test_betas_change_bone_lengths_as_documented(model: SmplModel) -> None:
    parents = list(SMPL_PARENTS[1:])

    def bones(betas: np.ndarray) -> np.ndarray:
        joints = model.rest_joints(betas)
        return np.linalg.norm(joints[1:] - joints[parents], axis=1)

    rest = bones(np.zeros(10))
    np.testing.assert_allclose(bones(np.eye(10)[0]), 1.04 * rest)  # beta 0: every bone 4 % longer
    legs = bones(np.eye(10)[2]) / rest  # beta 2: thighs and shins 4 % longer, nothing else
    np.testing.assert_allclose(legs[[3, 4, 6, 7]], 1.04)
    np.testing.assert_allclose(np.delete(legs, [3, 4, 6, 7]), 1.0)
    np.testing.assert_allclose(bones(np.eye(10)[1]), rest)  # beta 1 (girth) leaves the skeleton alone
    girth = model.shapedirs[:, :, 1]
    assert np.abs(girth).max() > 0


def test_default_model_is_cached_and_equals_the_written_file(model: SmplModel) -> None:
    assert default_smpl_model() is default_smpl_model()
    for name in ("v_template", "shapedirs", "J_regressor", "weights", "faces", "parents"):
        np.testing.assert_array_equal(getattr(default_smpl_model(), name), getattr(model, name))


# -- rotations and kinematics --------------------------------------------------------------------------------------


def test_rotation_conversions() -> None:
    quarter_turn_z = axis_angle_to_matrix(np.array([0.0, 0.0, np.pi / 2]))
    np.testing.assert_allclose(quarter_turn_z @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-15)
    rng = np.random.default_rng(1)
    directions = rng.normal(size=(500, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    angles = np.concatenate([rng.uniform(0, np.pi - 1e-6, 494), [0.0, 1e-12, 1e-7, np.pi - 1e-9, 2.5, 3.0]])
    rotvecs = directions * angles[:, None]
    matrices = axis_angle_to_matrix(rotvecs)
    np.testing.assert_allclose(
        matrices @ np.swapaxes(matrices, 1, 2), np.broadcast_to(np.eye(3), (500, 3, 3)), atol=1e-12
    )
    np.testing.assert_allclose(matrix_to_axis_angle(matrices), rotvecs, atol=1e-7)


def test_forward_kinematics_rest_and_rigid_bones(model: SmplModel) -> None:
    betas, orient, pose, transl = _random_parameters(2)
    rest = model.forward_kinematics(betas, np.zeros(3), np.zeros(69), transl, return_vertices=True)
    np.testing.assert_allclose(rest.joints, model.rest_joints(betas) + transl)
    np.testing.assert_allclose(rest.vertices, model.v_template + model.shapedirs @ betas + transl, atol=1e-12)
    posed = model.forward_kinematics(betas, orient, pose).joints
    parents = list(SMPL_PARENTS[1:])
    rest_bones = np.linalg.norm(rest.joints[1:] - rest.joints[parents], axis=1)
    np.testing.assert_allclose(np.linalg.norm(posed[1:] - posed[parents], axis=1), rest_bones)
    turned = model.forward_kinematics(betas, [0.0, np.pi, 0.0], np.zeros(69)).joints
    pelvis = rest.joints[0] - transl
    np.testing.assert_allclose(turned - pelvis, (rest.joints - transl - pelvis) * [-1, 1, -1], atol=1e-12)
    with pytest.raises(ValueError, match="body_pose"):
        model.forward_kinematics(betas, orient, np.zeros(63))


def _smplx_from(path: Path, arrays: dict | None = None):  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    smplx = pytest.importorskip("smplx")
    from smplx.utils import Struct

    if arrays is None:  # a pickle: smplx reads it itself
        return smplx.SMPL(model_path=str(path), dtype=torch.float64)
    # smplx's SMPL class only unpickles; smplx-style .npz files reach it as a data_struct
    return smplx.SMPL(model_path=str(path), data_struct=Struct(**arrays), dtype=torch.float64)


def _compare_with_smplx(ours: SmplModel, body, seed: int) -> None:  # type: ignore[no-untyped-def]
    import torch

    betas, orient, pose, transl = _random_parameters(seed)
    expected = body(
        betas=torch.tensor(betas[None]),
        global_orient=torch.tensor(orient[None]),
        body_pose=torch.tensor(pose[None]),
        transl=torch.tensor(transl[None]),
    )
    result = ours.forward_kinematics(betas, orient, pose, transl, return_vertices=True)
    np.testing.assert_allclose(result.joints, expected.joints[0, :24].numpy(), atol=1e-5)
    np.testing.assert_allclose(result.vertices, expected.vertices[0].numpy(), atol=1e-5)


def test_npz_matches_smplx(npz_path: Path, model: SmplModel) -> None:
    with np.load(npz_path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    _compare_with_smplx(model, _smplx_from(npz_path, arrays), seed=3)


def test_pkl_matches_smplx(pkl_path: Path) -> None:
    _compare_with_smplx(load_smpl_model(pkl_path), _smplx_from(pkl_path), seed=4)


def test_pose_correctives_match_smplx(npz_path: Path, tmp_path: Path) -> None:
    """The synthetic model has no pose correctives; give it random ones to check our skinning applies them."""
    with np.load(npz_path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["posedirs"] = np.random.default_rng(5).normal(scale=1e-3, size=arrays["posedirs"].shape)
    path = tmp_path / "SMPL_CORRECTIVES.npz"
    np.savez(path, **arrays)
    _compare_with_smplx(load_smpl_model(path), _smplx_from(path, arrays), seed=6)


# -- official-format pickles ---------------------------------------------------------------------------------------


def _fake_chumpy_and_scipy() -> dict[str, types.ModuleType]:
    """Minimal stand-ins for chumpy and scipy.sparse that pickle the way the real ones do (chumpy's Ch pickles its
    __dict__ without caches, the array under 'x'; scipy pickles a csc_matrix's attributes). Used only to WRITE
    an official-style file; the loader must read it without them."""
    chumpy, chumpy_ch, chumpy_reordering = (types.ModuleType(n) for n in ("chumpy", "chumpy.ch", "chumpy.reordering"))

    class Ch:
        def __init__(self, x: np.ndarray) -> None:
            self.x = x

        def __getstate__(self) -> dict:
            return {
                "x": self.x,
                "_dirty_vars": set(),
                "_itr": None,
                "_make_dense": False,
                "_make_sparse": False,
                "_depends_on_deps": {},
            }

    class Select(Ch):
        def __init__(self, a: Ch, idxs: np.ndarray, preferred_shape: tuple) -> None:
            self.a, self.idxs, self.preferred_shape = a, idxs, preferred_shape

        def __getstate__(self) -> dict:
            return {"a": self.a, "idxs": self.idxs, "preferred_shape": self.preferred_shape, "_dirty_vars": set()}

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    Select.__module__, Select.__qualname__ = "chumpy.reordering", "Select"
    chumpy_ch.Ch, chumpy_reordering.Select = Ch, Select
    chumpy.ch, chumpy.reordering = chumpy_ch, chumpy_reordering

    scipy, sparse, csc = (types.ModuleType(n) for n in ("scipy", "scipy.sparse", "scipy.sparse.csc"))

    class csc_matrix:
        def __init__(self, dense: np.ndarray) -> None:
            rows, cols = np.nonzero(dense.T)  # column-major order: CSC
            self.data = dense.T[rows, cols]
            self.indices = cols.astype(np.int32)
            self.indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=dense.shape[1]))]).astype(np.int32)
            self._shape = dense.shape
            self.maxprint = 50

    csc_matrix.__module__, csc_matrix.__qualname__ = "scipy.sparse.csc", "csc_matrix"
    csc.csc_matrix = csc_matrix
    scipy.sparse, sparse.csc = sparse, csc
    return {
        "chumpy": chumpy,
        "chumpy.ch": chumpy_ch,
        "chumpy.reordering": chumpy_reordering,
        "scipy": scipy,
        "scipy.sparse": sparse,
        "scipy.sparse.csc": csc,
    }


def _write_official_style(path: Path, monkeypatch: pytest.MonkeyPatch, shapedirs_as_select: bool = False) -> dict:
    """Write the synthetic model as SMPL's own .pkl files are: chumpy arrays, a scipy CSC J_regressor, protocol 2."""
    model = default_smpl_model()
    with monkeypatch.context() as patch:
        for name, module in _fake_chumpy_and_scipy().items():
            patch.setitem(sys.modules, name, module)
        Ch = sys.modules["chumpy.ch"].Ch
        shapedirs = Ch(model.shapedirs)
        if shapedirs_as_select:  # as MANO stores it: a selection of every element of a flat Ch
            flat = Ch(model.shapedirs.reshape(-1))
            shapedirs = sys.modules["chumpy.reordering"].Select(flat, np.arange(flat.x.size), model.shapedirs.shape)
        data = {
            "v_template": Ch(model.v_template),
            "shapedirs": shapedirs,
            "posedirs": Ch(model.posedirs),
            "J_regressor": sys.modules["scipy.sparse.csc"].csc_matrix(model.J_regressor),
            "weights": Ch(model.weights),
            "kintree_table": np.array([[4294967295, *SMPL_PARENTS[1:]], list(range(24))], dtype=np.int64),
            "f": model.faces.astype(np.uint32),
            "J": Ch(model.rest_joints()),
            "bs_style": "lbs",
            "bs_type": "lrotmin",
        }
        with path.open("wb") as stream:
            pickle.dump(data, stream, protocol=2)
    return data


@pytest.mark.parametrize("shapedirs_as_select", [False, True])
def test_official_style_pickle_loads_without_chumpy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shapedirs_as_select: bool
) -> None:
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    _write_official_style(path, monkeypatch, shapedirs_as_select)
    assert b"chumpy.ch" in path.read_bytes() and b"scipy.sparse.csc" in path.read_bytes()
    assert "chumpy" not in sys.modules
    loaded = load_smpl_model(path)
    reference = default_smpl_model()
    for name in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "parents", "faces"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(reference, name))
    assert loaded.source == str(path)


def test_loader_keeps_the_first_betas(npz_path: Path) -> None:
    assert load_smpl_model(npz_path, num_betas=4).shapedirs.shape == (NUM_VERTICES, 3, 4)
    with pytest.raises(SmplModelError, match=r"shapedirs.*>=16"):
        load_smpl_model(npz_path, num_betas=16)


# -- errors --------------------------------------------------------------------------------------------------------


def test_missing_file_names_the_parameter_and_the_source(tmp_path: Path) -> None:
    with pytest.raises(SmplModelNotFoundError) as error:
        load_smpl_model(tmp_path / "SMPL_NEUTRAL.pkl")
    message = str(error.value)
    assert "smpl.model" in message and "smpl.is.tue.mpg.de" in message and "synthetic" in message
    assert isinstance(error.value, FileNotFoundError) and isinstance(error.value, ValueError)
    with pytest.raises(SmplModelNotFoundError, match="directory"):
        load_smpl_model(tmp_path)


def test_wrong_shape_names_key_expected_and_actual(npz_path: Path, tmp_path: Path) -> None:
    with np.load(npz_path) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["posedirs"] = arrays["posedirs"][:, :, :200]
    path = tmp_path / "bad_shape.npz"
    np.savez(path, **arrays)
    with pytest.raises(SmplModelError) as error:
        load_smpl_model(path)
    message = str(error.value)
    assert "bad_shape.npz" in message and "posedirs" in message
    assert "(6890, 3, 200)" in message and "(6890, 3, 207)" in message


@pytest.mark.parametrize(
    ("key", "change", "pattern"),
    [
        ("v_template", lambda a: np.where(np.arange(a.shape[0])[:, None] == 7, np.nan, a), "NaN"),
        ("kintree_table", lambda a: np.stack([np.roll(a[0], 1), a[1]]), "joint tree"),
        ("f", lambda a: a[:-1], r"faces.*\(13775, 3\)"),
        ("weights", lambda a: a.astype(str), r"weights.*not a numeric array \(dtype <U"),
        ("J_regressor", lambda a: np.array([{"rows": 24}], dtype=object), "non-numeric"),
    ],
)
def test_bad_arrays_are_named(
    npz_path: Path, tmp_path: Path, key: str, change: Callable[[np.ndarray], np.ndarray], pattern: str
) -> None:
    with np.load(npz_path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays[key] = change(arrays[key])
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(SmplModelError, match=pattern):
        load_smpl_model(path)


def test_missing_keys_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "other.pkl"
    path.write_bytes(pickle.dumps({"v_template": np.zeros((6890, 3))}, protocol=2))
    with pytest.raises(SmplModelError, match=r"not an SMPL model.*shapedirs"):
        load_smpl_model(path)
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(SmplModelError, match="list"):
        load_smpl_model(path)


@pytest.mark.parametrize("suffix", [".pkl", ".npz"])
def test_truncated_files_are_named(npz_path: Path, pkl_path: Path, tmp_path: Path, suffix: str) -> None:
    source = pkl_path if suffix == ".pkl" else npz_path
    path = tmp_path / f"truncated{suffix}"
    path.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(SmplModelError, match=rf"truncated{suffix}.*(truncated|corrupt)"):
        load_smpl_model(path)


class _Payload:
    """Would create a file when unpickled, if the loader let it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


def test_pickle_with_a_disallowed_class_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "payload_ran"
    path = tmp_path / "SMPL_EVIL.pkl"
    arrays = {key: np.zeros(1) for key in MODEL_KEYS}
    arrays["v_template"] = _Payload(marker)
    path.write_bytes(pickle.dumps(arrays, protocol=2))
    with pytest.raises(SmplModelError, match=r"SMPL_EVIL\.pkl: refused to load: disallowed class or function"):
        load_smpl_model(path)
    assert not marker.exists()


def test_unsupported_chumpy_expression_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chumpy node that computes something (here an 'add') cannot be evaluated without chumpy: refuse it."""
    path = tmp_path / "SMPL_EXPR.pkl"
    with monkeypatch.context() as patch:
        ops = types.ModuleType("chumpy.ch_ops")

        class add:
            def __getstate__(self) -> dict:
                return {"a": np.ones(3), "b": np.ones(3)}

        add.__module__, add.__qualname__ = "chumpy.ch_ops", "add"
        ops.add = add
        patch.setitem(sys.modules, "chumpy", types.ModuleType("chumpy"))
        patch.setitem(sys.modules, "chumpy.ch_ops", ops)
        arrays = {key: np.zeros(1) for key in MODEL_KEYS}
        arrays["v_template"] = add()
        path.write_bytes(pickle.dumps(arrays, protocol=2))
    with pytest.raises(SmplModelError, match=r"v_template.*chumpy expression 'add'"):
        load_smpl_model(path)
