# Passed as -DCMAKE_PROJECT_INCLUDE=<this file> by scripts/setup_ros.sh, and only there: a colcon build against
# ROS 2 from PyPI wheels. Not needed, and not used, on a normal ROS 2 installation.
#
# Why: the wheels' exported CMake targets (e.g. action_msgs::action_msgs__rosidl_generator_py) name the include
# directories of the interpreter that built them, /opt/python/cpXY-cpXY/include/pythonX.Y and its numpy headers.
# Those do not exist here, and CMake's generate step refuses an imported target with a missing include directory.
# This rewrites them, inside this build only, to this interpreter's own directories, once every find_package() of
# the project has run (a deferred call at the end of the top-level directory, CMake >= 3.19).

if(NOT Python3_EXECUTABLE)
  find_program(Python3_EXECUTABLE NAMES python3 REQUIRED)
endif()
execute_process(
  COMMAND "${Python3_EXECUTABLE}" -c
    "import sysconfig, numpy; print(sysconfig.get_paths()['include'] + ';' + numpy.get_include(), end='')"
  OUTPUT_VARIABLE _ros_wheels_includes
  RESULT_VARIABLE _ros_wheels_result)
if(NOT _ros_wheels_result EQUAL 0)
  message(FATAL_ERROR "ros_wheels_fix.cmake: ${Python3_EXECUTABLE} cannot report its include directories "
                      "(it needs numpy installed)")
endif()
list(GET _ros_wheels_includes 0 ROS_WHEELS_PYTHON_INCLUDE)
list(GET _ros_wheels_includes 1 ROS_WHEELS_NUMPY_INCLUDE)

function(ros_wheels_fix_imported_includes)
  get_property(targets DIRECTORY "${CMAKE_SOURCE_DIR}" PROPERTY IMPORTED_TARGETS)
  set(rewritten 0)
  foreach(target IN LISTS targets)
    get_target_property(dirs "${target}" INTERFACE_INCLUDE_DIRECTORIES)
    if(dirs AND dirs MATCHES "/opt/python/cp[0-9]+-cp[0-9]+/")
      string(REGEX REPLACE "/opt/python/cp[0-9]+-cp[0-9]+/include/python[0-9.]+"
             "${ROS_WHEELS_PYTHON_INCLUDE}" dirs "${dirs}")
      string(REGEX REPLACE "/opt/python/cp[0-9]+-cp[0-9]+/lib/python[0-9.]+/site-packages/numpy/(_core|core)/include"
             "${ROS_WHEELS_NUMPY_INCLUDE}" dirs "${dirs}")
      set_target_properties("${target}" PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${dirs}")
      math(EXPR rewritten "${rewritten} + 1")
    endif()
  endforeach()
  message(STATUS "ros_wheels_fix: include directories of ${rewritten} imported targets point at "
                 "${ROS_WHEELS_PYTHON_INCLUDE} and ${ROS_WHEELS_NUMPY_INCLUDE}")
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL ros_wheels_fix_imported_includes)
