"""The msg/srv/action files, read by the real ROS parsers and by rosbags.

rosidl (Debian's python3-rosidl, or the sourced ROS install) is only importable by the system
interpreter, so its checks run in a subprocess; they skip with a reason where it is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from interfaces_typestore import (
    REPO_ROOT,
    InterfaceDefinitionError,
    interface_files,
    make_typestore,
    split_interface,
)

# The interface contract: field (rosidl type, name) per generated message, in order.
EXPECTED_FIELDS: dict[str, list[tuple[str, str]]] = {
    "motionllm_ros/msg/BehaviorDescription": [
        ("std_msgs/Header", "header"),
        ("int32", "track_id"),
        ("bool", "track_id_uncertain"),
        ("uint8", "salience_rank"),
        ("builtin_interfaces/Time", "window_start"),
        ("builtin_interfaces/Time", "window_end"),
        ("uint32", "num_frames"),
        ("string", "description"),
        ("string[]", "labels"),
        ("int32[]", "label_partners"),
        ("float32[]", "scores"),
        ("float32", "confidence"),
        ("float32", "latency_sec"),
        ("string", "model_id"),
        ("builtin_interfaces/Time[]", "label_starts"),
        ("builtin_interfaces/Time[]", "label_ends"),
        ("string", "ego_motion"),
        ("float32", "camera_rotation_deg"),
    ],
    "motionllm_ros/msg/SmplPose": [
        ("std_msgs/Header", "header"),
        ("int32", "track_id"),
        ("float32[10]", "betas"),
        ("float32[3]", "global_orient"),
        ("float32[69]", "body_pose"),
        ("float32[3]", "transl"),
        ("float32[66]", "joints"),
        ("float32", "fit_residual"),
        ("bool", "valid"),
    ],
    "motionllm_ros/srv/QueryBehavior_Request": [
        ("string", "question"),
        ("int32", "track_id"),
        ("float32", "lookback_sec"),
        ("bool", "allow_cached"),
    ],
    "motionllm_ros/srv/QueryBehavior_Response": [
        ("bool", "success"),
        ("string", "message"),
        ("string", "answer"),
        ("motionllm_ros/BehaviorDescription[]", "evidence"),
        ("builtin_interfaces/Time", "stamp"),
    ],
    "motionllm_ros/action/DescribeBehavior_Goal": [
        ("string", "question"),
        ("int32", "track_id"),
        ("float32", "lookback_sec"),
    ],
    "motionllm_ros/action/DescribeBehavior_Result": [
        ("bool", "success"),
        ("string", "message"),
        ("string", "answer"),
        ("motionllm_ros/BehaviorDescription[]", "evidence"),
    ],
    "motionllm_ros/action/DescribeBehavior_Feedback": [
        ("string", "partial_text"),
        ("uint32", "tokens_generated"),
    ],
}
EXPECTED_CONSTANTS: dict[str, dict[str, object]] = {
    "motionllm_ros/msg/BehaviorDescription": {"TRACK_NONE": -1, "MODEL_ID_PRIMITIVES": "primitives",
                                              "EGO_MOTION_NONE": "none", "EGO_MOTION_IMAGE": "image",
                                              "EGO_MOTION_TF": "tf"},
    "motionllm_ros/srv/QueryBehavior_Request": {"TRACK_MOST_SALIENT": 0, "TRACK_EVERYONE": -1},
    "motionllm_ros/action/DescribeBehavior_Goal": {"TRACK_MOST_SALIENT": 0, "TRACK_EVERYONE": -1},
}
# Physical units, written as rosidl's "[unit]" comment annotation (it ends up in the generated docs).
EXPECTED_UNITS: dict[tuple[str, str], str] = {
    ("motionllm_ros/msg/BehaviorDescription", "latency_sec"): "s",
    ("motionllm_ros/msg/BehaviorDescription", "camera_rotation_deg"): "deg",
    ("motionllm_ros/msg/SmplPose", "global_orient"): "rad",
    ("motionllm_ros/msg/SmplPose", "body_pose"): "rad",
    ("motionllm_ros/msg/SmplPose", "transl"): "m",
    ("motionllm_ros/msg/SmplPose", "joints"): "m",
    ("motionllm_ros/msg/SmplPose", "fit_residual"): "m",
    ("motionllm_ros/srv/QueryBehavior_Request", "lookback_sec"): "s",
    ("motionllm_ros/action/DescribeBehavior_Goal", "lookback_sec"): "s",
}

# Runs under the interpreter that has rosidl. stdin: {"mode": "parse", "files": [[kind, stem, text]]}
# -> one result per file: {"messages": {part: {"fields": [[type, name, comment, unit]],
# "constants": [[name, value, comment]]}}} or {"error": "..."}; or {"mode": "idl", "root": dir}
# -> the member names of every structure after the msg -> IDL -> rosidl_parser pipeline of a build.
ROSIDL_SCRIPT = r"""
import contextlib, json, sys, tempfile
from pathlib import Path
from rosidl_adapter import parser

request = json.load(sys.stdin)
package = "motionllm_ros"

def describe(spec):
    return {
        "fields": [[str(f.type), f.name, "\n".join(f.annotations.get("comment", [])), f.annotations.get("unit")]
                   for f in spec.fields],
        "constants": [[c.name, c.value, "\n".join(c.annotations.get("comment", []))] for c in spec.constants],
    }

if request["mode"] == "parse":
    results = []
    for kind, stem, text in request["files"]:
        try:
            if kind == "msg":
                parts = {"msg/" + stem: parser.parse_message_string(package, stem, text)}
            elif kind == "srv":
                spec = parser.parse_service_string(package, stem, text)
                parts = {"srv/" + spec.request.msg_name: spec.request, "srv/" + spec.response.msg_name: spec.response}
            else:
                spec = parser.parse_action_string(package, stem, text)
                parts = {"action/" + p.msg_name: p for p in (spec.goal, spec.result, spec.feedback)}
            results.append({"messages": {package + "/" + k: describe(v) for k, v in parts.items()}})
        except Exception as error:
            results.append({"error": type(error).__name__ + ": " + str(error)})
    json.dump(results, sys.stdout)
else:
    from rosidl_adapter.msg import convert_msg_to_idl
    from rosidl_adapter.srv import convert_srv_to_idl
    from rosidl_adapter.action import convert_action_to_idl
    from rosidl_parser.definition import Action, IdlLocator, Message, Service
    from rosidl_parser.parser import parse_idl_file

    root = Path(request["root"])
    convert = {"msg": convert_msg_to_idl, "srv": convert_srv_to_idl, "action": convert_action_to_idl}
    structures = {}
    # The converters print progress on stdout, which carries our JSON answer.
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(sys.stderr):
        for kind in ("msg", "srv", "action"):
            for source in sorted((root / kind).glob("*." + kind)):
                out_dir = Path(out) / kind
                out_dir.mkdir(exist_ok=True)
                idl = convert[kind](root, package, source.relative_to(root), out_dir)
                content = parse_idl_file(IdlLocator(Path(out), idl.relative_to(out))).content
                messages = [m for m in content.get_elements_of_type(Message)]
                for s in content.get_elements_of_type(Service):
                    messages += [s.request_message, s.response_message]
                for a in content.get_elements_of_type(Action):
                    messages += [a.goal, a.result, a.feedback]
                for m in messages:
                    t = m.structure.namespaced_type
                    structures["/".join([*t.namespaces, t.name])] = [member.name for member in m.structure.members]
    json.dump(structures, sys.stdout)
"""


def _rosidl_interpreter() -> str | None:
    """The first interpreter that can import rosidl_adapter (a sourced ROS install, else Debian's)."""
    for candidate in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
        if Path(candidate).exists():
            probe = subprocess.run([candidate, "-c", "import rosidl_adapter.parser"], capture_output=True)
            if probe.returncode == 0:
                return candidate
    return None


@pytest.fixture(scope="module")
def rosidl_python() -> str:
    interpreter = _rosidl_interpreter()
    if interpreter is None:
        pytest.skip("rosidl_adapter not importable: install Debian's python3-rosidl or source a ROS 2 setup")
    return interpreter


def _run_rosidl(interpreter: str, request: dict) -> object:
    done = subprocess.run(
        [interpreter, "-c", ROSIDL_SCRIPT], input=json.dumps(request), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _parse_with_rosidl(interpreter: str, files: list[Path]) -> list[dict]:
    jobs = [[path.parent.name, path.stem, path.read_text(encoding="utf-8")] for path in files]
    return _run_rosidl(interpreter, {"mode": "parse", "files": jobs})


@pytest.fixture(scope="module")
def rosidl_messages(rosidl_python: str) -> dict[str, dict]:
    """What rosidl makes of our files: full message name -> fields and constants."""
    messages: dict[str, dict] = {}
    for path, result in zip(interface_files(), _parse_with_rosidl(rosidl_python, interface_files())):
        assert "error" not in result, f"{path}: {result.get('error')}"
        messages.update(result["messages"])
    return messages


def test_every_interface_file_is_covered() -> None:
    parts = {name for path in interface_files() for name in split_interface(path)}
    assert parts == set(EXPECTED_FIELDS)


def test_interface_files_are_plain_ascii() -> None:
    # Humble's rosidl_adapter writes the IDL it derives (comments included) as ISO-8859-1, and
    # generators and other tools differ in what they accept: ASCII builds everywhere.
    for path in interface_files():
        data = path.read_bytes()
        assert data.isascii(), path
        assert data.endswith(b"\n") and b"\r" not in data and b"\t" not in data, path


def test_rosidl_reads_the_expected_fields(rosidl_messages: dict[str, dict]) -> None:
    assert set(rosidl_messages) == set(EXPECTED_FIELDS)
    for name, expected in EXPECTED_FIELDS.items():
        got = [(field_type, field_name) for field_type, field_name, _, _ in rosidl_messages[name]["fields"]]
        assert got == expected, name


def test_rosidl_reads_the_expected_constants(rosidl_messages: dict[str, dict]) -> None:
    for name, message in rosidl_messages.items():
        got = {constant_name: value for constant_name, value, _ in message["constants"]}
        assert got == EXPECTED_CONSTANTS.get(name, {}), name


def test_every_field_and_constant_is_documented(rosidl_messages: dict[str, dict]) -> None:
    comments = {}
    for name, message in rosidl_messages.items():
        comments.update({f"{name}.{field}": comment for _, field, comment, _ in message["fields"]})
        comments.update({f"{name}.{constant}": comment for constant, _, comment in message["constants"]})
    # A comment shorter than a phrase ("# id") documents nothing.
    undocumented = [entry for entry, comment in comments.items() if len(comment.strip()) < 15]
    assert not undocumented, f"fields/constants without a documenting comment: {undocumented}"


def test_physical_quantities_carry_their_unit(rosidl_messages: dict[str, dict]) -> None:
    units = {
        (name, field_name): unit
        for name, message in rosidl_messages.items()
        for _, field_name, _, unit in message["fields"]
        if unit is not None
    }
    assert units == EXPECTED_UNITS


def test_build_pipeline_msg_to_idl_to_rosidl_parser(rosidl_python: str) -> None:
    # rosidl_generate_interfaces converts every file to IDL with rosidl_adapter, and all generators
    # then read the IDL with rosidl_parser: run that very pipeline.
    probe = subprocess.run([rosidl_python, "-c", "import em, lark, rosidl_parser.parser"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("rosidl_parser, empy or lark missing for the rosidl interpreter (Debian: python3-empy)")
    structures = _run_rosidl(rosidl_python, {"mode": "idl", "root": str(REPO_ROOT)})
    expected = {name: [field_name for _, field_name in fields] for name, fields in EXPECTED_FIELDS.items()}
    assert structures == expected


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
def test_rosbags_typestore_agrees_with_rosidl_and_round_trips(distro: str) -> None:
    store = make_typestore(distro)
    for name, expected in EXPECTED_FIELDS.items():
        assert [field_name for field_name, _ in store.fielddefs[name][1]] == [f for _, f in expected], name
        constants = {constant: value for constant, _, value in store.fielddefs[name][0]}
        assert constants == EXPECTED_CONSTANTS.get(name, {}), name

    for name, message in _example_messages(store).items():
        assert message.__msgtype__ == name
        decoded = store.deserialize_cdr(store.serialize_cdr(message, name), name)
        _assert_same_message(decoded, message, name)


def test_smpl_pose_arrays_have_the_documented_shapes() -> None:
    store = make_typestore("humble")
    pose = _example_messages(store)["motionllm_ros/msg/SmplPose"]
    decoded = store.deserialize_cdr(store.serialize_cdr(pose, pose.__msgtype__), pose.__msgtype__)
    assert np.reshape(decoded.body_pose, (23, 3)).shape == (23, 3)
    joints = np.reshape(decoded.joints, (22, 3))  # row-major: joint 1 (left_hip) is values 3..5
    np.testing.assert_array_equal(joints[1], pose.joints[3:6])


# Each entry: (file, exact text to change, replacement). Every change must be refused by rosidl and
# by the rosbags typestore builder alike.
BROKEN_COPIES = {
    "misspelled primitive type": ("msg/BehaviorDescription.msg", "\nfloat32 confidence\n", "\nflaot32 confidence\n"),
    "field name starting with a digit": ("msg/SmplPose.msg", "\nbool valid\n", "\nbool 2bad\n"),
    "array size that is not a number": ("msg/SmplPose.msg", "\nfloat32[10] betas\n", "\nfloat32[ten] betas\n"),
    "service without separator": ("srv/QueryBehavior.srv", "\n---\n", "\n"),
    "action with one separator": (
        "action/DescribeBehavior.action",
        "\n---\n# Feedback",
        "\n# Feedback",
    ),
}


def _broken_tree(tmp_path: Path, relative: str, old: str, new: str) -> Path:
    for path in interface_files():
        target = tmp_path / path.relative_to(REPO_ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    broken = tmp_path / relative
    text = broken.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{relative} no longer contains {old!r} once: update BROKEN_COPIES"
    broken.write_text(text.replace(old, new), encoding="utf-8")
    return broken


@pytest.mark.parametrize("case", sorted(BROKEN_COPIES))
def test_broken_copy_is_rejected_by_both_parsers(case: str, tmp_path: Path) -> None:
    relative, old, new = BROKEN_COPIES[case]
    broken = _broken_tree(tmp_path, relative, old, new)

    with pytest.raises(InterfaceDefinitionError, match=broken.name):
        make_typestore("humble", root=tmp_path)

    interpreter = _rosidl_interpreter()
    if interpreter is None:
        pytest.skip("rosidl_adapter not importable: only the rosbags half of this check ran")
    (result,) = _parse_with_rosidl(interpreter, [broken])
    assert "error" in result, f"rosidl accepted the broken copy ({case})"


def test_typestore_rejects_a_reference_to_an_unknown_type(tmp_path: Path) -> None:
    # rosidl's text parser accepts any well-formed type name and leaves the lookup to the build;
    # the typestore builder checks it at once, like the build does.
    _broken_tree(tmp_path, "srv/QueryBehavior.srv", "builtin_interfaces/Time stamp", "builtin_interfaces/Stamp stamp")
    with pytest.raises(InterfaceDefinitionError, match=r"QueryBehavior\.srv.*builtin_interfaces/msg/Stamp"):
        make_typestore("jazzy", root=tmp_path)


def test_unknown_distro_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="rolling"):
        make_typestore("rolling")


def _example_messages(store) -> dict[str, object]:
    """One realistic instance of each of our message classes."""
    types = store.types
    Time = types["builtin_interfaces/msg/Time"]
    Header = types["std_msgs/msg/Header"]
    end = Time(sec=1_700_000_002, nanosec=500_000_000)
    header = Header(stamp=end, frame_id="camera_color_optical_frame")
    description = types["motionllm_ros/msg/BehaviorDescription"](
        header=header,
        track_id=3,
        track_id_uncertain=False,
        salience_rank=0,
        window_start=Time(sec=1_700_000_000, nanosec=100_000_000),
        window_end=end,
        num_frames=48,
        description="A man dribbles a basketball with his right hand.",
        labels=["dribbling", "standing"],
        label_partners=np.array([-1, -1], dtype=np.int32),
        scores=np.array([0.9, 0.4], dtype=np.float32),
        confidence=0.75,
        latency_sec=0.25,
        model_id="primitives",
        label_starts=[Time(sec=1_700_000_001, nanosec=0), Time(sec=1_700_000_000, nanosec=100_000_000)],
        label_ends=[Time(sec=1_700_000_001, nanosec=700_000_000), end],
        ego_motion="image",
        camera_rotation_deg=4.5,
    )
    rng = np.random.default_rng(0)
    pose = types["motionllm_ros/msg/SmplPose"](
        header=header,
        track_id=3,
        betas=rng.normal(size=10).astype(np.float32),
        global_orient=np.array([np.pi, 0.0, 0.0], dtype=np.float32),
        body_pose=rng.normal(scale=0.2, size=69).astype(np.float32),
        transl=np.array([0.1, 0.2, 3.5], dtype=np.float32),
        joints=rng.normal(size=66).astype(np.float32),
        fit_residual=0.031,
        valid=True,
    )
    return {
        "motionllm_ros/msg/BehaviorDescription": description,
        "motionllm_ros/msg/SmplPose": pose,
        "motionllm_ros/srv/QueryBehavior_Request": types["motionllm_ros/srv/QueryBehavior_Request"](
            question="", track_id=0, lookback_sec=4.0, allow_cached=True
        ),
        "motionllm_ros/srv/QueryBehavior_Response": types["motionllm_ros/srv/QueryBehavior_Response"](
            success=True, message="", answer="He is dribbling.", evidence=[description, description], stamp=end
        ),
        "motionllm_ros/action/DescribeBehavior_Goal": types["motionllm_ros/action/DescribeBehavior_Goal"](
            question="What is he doing with the ball?", track_id=3, lookback_sec=0.0
        ),
        "motionllm_ros/action/DescribeBehavior_Result": types["motionllm_ros/action/DescribeBehavior_Result"](
            success=False, message="cancelled", answer="He is", evidence=[]
        ),
        "motionllm_ros/action/DescribeBehavior_Feedback": types["motionllm_ros/action/DescribeBehavior_Feedback"](
            partial_text="He is", tokens_generated=2
        ),
    }


def _assert_same_message(got: object, want: object, where: str) -> None:
    for field_name in want.__dataclass_fields__:
        a, b = getattr(got, field_name), getattr(want, field_name)
        if hasattr(b, "__dataclass_fields__"):
            _assert_same_message(a, b, f"{where}.{field_name}")
        elif isinstance(b, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b), f"{where}.{field_name}"
        elif isinstance(b, list) and b and hasattr(b[0], "__dataclass_fields__"):
            assert len(a) == len(b), f"{where}.{field_name}"
            for index, (x, y) in enumerate(zip(a, b)):
                _assert_same_message(x, y, f"{where}.{field_name}[{index}]")
        elif isinstance(b, float):
            assert a == pytest.approx(b, rel=1e-6), f"{where}.{field_name}"  # float32 on the wire
        else:
            assert a == b, f"{where}.{field_name}"
