"""package.xml and CMakeLists.txt: what rosdep, colcon and rosidl need from the package definition."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from interfaces_typestore import PACKAGE, REPO_ROOT, interface_files

PACKAGE_XML = REPO_ROOT / "package.xml"
CMAKE_LISTS = REPO_ROOT / "CMakeLists.txt"

# rosdep keys of everything the Python code, launch files and CLI use at run time.
RUNTIME_KEYS = {
    "rosidl_default_runtime",
    "rclpy",
    "launch",
    "launch_ros",
    "std_msgs",
    "sensor_msgs",
    "geometry_msgs",
    "visualization_msgs",
    "diagnostic_msgs",
    "lifecycle_msgs",
    "builtin_interfaces",
    "action_msgs",
    "cv_bridge",
    "python3-numpy",
    "python3-yaml",
    "python3-opencv",
}
# Python packages with no rosdep key: they come from pip and must not appear as dependencies.
PIP_ONLY = ("mediapipe", "smplx", "torch", "transformers", "rosbags")


@pytest.fixture(scope="module")
def package():
    from catkin_pkg.package import parse_package

    warnings: list[str] = []
    parsed = parse_package(str(PACKAGE_XML), warnings=warnings)
    assert not warnings, warnings
    parsed.evaluate_conditions({})
    return parsed


def _names(dependencies) -> set[str]:
    return {dependency.name for dependency in dependencies}


def _cmake_code() -> str:
    """CMakeLists.txt without its comments."""
    return re.sub(r"#[^\n]*", "", CMAKE_LISTS.read_text(encoding="utf-8"))


def _cmake_call(name: str, first_argument: str = "") -> str:
    """The argument text of the one call `name(first_argument ...)` in CMakeLists.txt."""
    calls = re.findall(rf"\b{name}\(\s*{re.escape(first_argument)}([^)]*)\)", _cmake_code())
    assert len(calls) == 1, f"expected one {name}({first_argument} ...) in CMakeLists.txt, found {len(calls)}"
    return calls[0]


def _interface_packages() -> set[str]:
    """Packages whose types our interface files use, other than our own."""
    used = set()
    for path in interface_files():
        for line in path.read_text(encoding="utf-8").splitlines():
            match = re.match(r"\s*([a-z][a-z0-9_]*)/[A-Z]", line.split("#", 1)[0])
            if match:
                used.add(match.group(1))
    return used - {PACKAGE}


def test_identity(package) -> None:
    assert package.package_format == 3
    assert package.name == PACKAGE
    assert package.version == "0.1.0"
    assert package.licenses == ["Apache-2.0"]
    assert "MotionLLM" in package.description and len(package.description.split()) > 20
    assert package.get_build_type() == "ament_cmake"


def test_interface_generation_dependencies(package) -> None:
    assert {"ament_cmake", "rosidl_default_generators"} <= _names(package.buildtool_depends)
    assert "rosidl_default_runtime" in _names(package.exec_depends)
    assert [group.name for group in package.member_of_groups] == ["rosidl_interface_packages"]
    # An interface package that uses another package's types needs it to build and at run time.
    for used in _interface_packages() | {"action_msgs"}:
        assert used in _names(package.build_depends) and used in _names(package.exec_depends), used


def test_runtime_and_test_dependencies(package) -> None:
    assert RUNTIME_KEYS <= _names(package.exec_depends)
    assert {"ament_cmake_pytest", "python3-pytest"} <= _names(package.test_depends)


def test_pip_only_packages_are_named_in_a_comment_not_as_dependencies(package) -> None:
    every_dependency = " ".join(
        _names(
            package.buildtool_depends + package.build_depends + package.exec_depends + package.test_depends
        )
    )
    for name in PIP_ONLY:
        assert name not in every_dependency, name
    tree = ET.parse(PACKAGE_XML, parser=ET.XMLParser(target=ET.TreeBuilder(insert_comments=True)))
    comments = " ".join(node.text or "" for node in tree.iter() if node.tag is ET.Comment)
    assert "pip" in comments
    for name in PIP_ONLY:
        assert name in comments, name


def test_cmake_generates_every_interface_file() -> None:
    listed = set(re.findall(r'"([^"]+)"', _cmake_call("rosidl_generate_interfaces", "${PROJECT_NAME}")))
    on_disk = {path.relative_to(REPO_ROOT).as_posix() for path in interface_files()}
    assert on_disk and listed == on_disk


def test_cmake_finds_every_interface_dependency() -> None:
    arguments = _cmake_call("rosidl_generate_interfaces", "${PROJECT_NAME}")
    dependencies = set(arguments.split("DEPENDENCIES", 1)[1].split())
    assert _interface_packages() | {"action_msgs"} <= dependencies
    for dependency in dependencies:
        # rosidl_generate_interfaces() refuses a dependency that was not found before.
        assert re.search(rf"find_package\(\s*{dependency}\s+REQUIRED\s*\)", _cmake_code()), dependency


def test_cmake_does_not_install_the_python_package_a_second_time() -> None:
    # rosidl already installs a Python package of this name (ros2/rosidl_python#141).
    assert "ament_python_install_package" not in _cmake_code()
    assert "ament_get_python_install_dir(python_install_dir)" in _cmake_code()


def test_cmake_installs_our_modules_into_the_generated_package(tmp_path: Path) -> None:
    """Runs CMake's own install() on the rule from CMakeLists.txt: every module and subpackage
    __init__.py is installed, the top-level __init__.py (rosidl provides it) and caches are not."""
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake not installed")
    (rule,) = re.findall(r"install\(\s*DIRECTORY motionllm_ros/.*?\n\)", CMAKE_LISTS.read_text(encoding="utf-8"), re.S)
    source = tmp_path / "source"
    shutil.copytree(REPO_ROOT / "motionllm_ros", source / "motionllm_ros")
    (source / "motionllm_ros" / "__pycache__").mkdir(exist_ok=True)
    (source / "motionllm_ros" / "__pycache__" / "stale.cpython-311.pyc").write_bytes(b"")
    (source / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.8)\nproject(motionllm_ros NONE)\n"
        'set(python_install_dir "lib/python3/site-packages")\n' + rule + "\n",
        encoding="utf-8",
    )
    for command in (
        [cmake, "-S", str(source), "-B", str(tmp_path / "build")],
        [cmake, "--install", str(tmp_path / "build"), "--prefix", str(tmp_path / "prefix")],
    ):
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr

    installed_root = tmp_path / "prefix" / "lib/python3/site-packages" / PACKAGE
    installed = {p.relative_to(installed_root).as_posix() for p in installed_root.rglob("*") if p.is_file()}
    package_root = REPO_ROOT / PACKAGE
    expected = {
        p.relative_to(package_root).as_posix()
        for p in package_root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    } - {"__init__.py"}
    assert installed == expected
    assert all(f"{sub.name}/__init__.py" in installed for sub in package_root.iterdir() if (sub / "__init__.py").is_file())
