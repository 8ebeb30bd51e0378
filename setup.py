# pip metadata lives in pyproject.toml. This file exists so that `pip install .` also works with old pip/setuptools
# (Ubuntu 22.04's) and because the ROS build (CMakeLists.txt) ignores it: colcon builds the root as ament_cmake.
from setuptools import setup

setup()
