"""Starts the `motionllm` lifecycle node.

    ros2 launch motionllm_ros motionllm.launch.py image_topic:=/camera/color/image_raw

Parameters come from `params_file` (default: the installed config/motionllm.yaml). Each argument below that maps
to a parameter overrides it only when given: left empty, the parameter file's value stands (a default here would
silently override the file). With autostart (the default) the node configures and activates itself.

The node's DDS participant uses `fastdds_profile` (default: the installed config/fastdds_profile.xml, a large
shared-memory segment and socket buffers) unless the environment already names a Fast DDS profile file. For raw
full-size images to arrive, the camera driver's process must load the same file: a publisher sends through its own
segment, so the profile in the node alone does not help (README, "Image delivery over DDS").

Only APIs present in both Humble and Jazzy are used.
"""

import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

BOOLEAN_CHOICES = ["", "true", "false", "True", "False"]

# launch argument -> (ROS parameter, its type, choices or None, description).
# The type is explicit because launch YAML-parses the text of an argument: '1234' would become an int.
PARAMETER_ARGUMENTS = {
    "image_topic": ("input.image_topic", str, None,
                    "Image topic; with image_transport compressed the node subscribes to <image_topic>/compressed."),
    "image_transport": ("input.image_transport", str, ["", "raw", "compressed"],
                        "raw: sensor_msgs/Image; compressed: sensor_msgs/CompressedImage."),
    "device": ("device", str, ["", "auto", "cpu", "cuda"], "Where the models run."),
    "autostart": ("autostart", bool, BOOLEAN_CHOICES, "Configure and activate the node on start-up."),
    "use_sim_time": ("use_sim_time", bool, BOOLEAN_CHOICES,
                     "Follow /clock (bag replay with --clock); data time always comes from the image stamps."),
}
FROM_PARAMS_FILE = " Empty: the value in params_file."
# Fast DDS 2 (Humble, Jazzy) reads the first, Fast DDS 3 (Kilted on) the second, and the first too with a warning:
# setting both would load the file twice.
PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")
FAST_DDS_2_DISTROS = ("humble", "iron", "jazzy")


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="", description="Namespace of the node."),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare("motionllm_ros"), "config", "motionllm.yaml"]),
            description="ROS 2 parameter file of the node."),
        *(DeclareLaunchArgument(name, default_value="", choices=choices, description=description + FROM_PARAMS_FILE)
          for name, (_parameter, _type, choices, description) in PARAMETER_ARGUMENTS.items()),
        DeclareLaunchArgument("log_level", default_value="info", choices=["debug", "info", "warn", "error", "fatal"],
                              description="Log level of the node."),
        DeclareLaunchArgument(
            "fastdds_profile",
            default_value=PathJoinSubstitution([FindPackageShare("motionllm_ros"), "config", "fastdds_profile.xml"]),
            description="Fast DDS XML profile of the node, unless FASTRTPS_DEFAULT_PROFILES_FILE or "
                        "FASTDDS_DEFAULT_PROFILES_FILE is set already. Empty: Fast DDS's defaults."),
        OpaqueFunction(function=_node),
    ])


def _node(context) -> list:
    # An OpaqueFunction because which parameters to override depends on which arguments were given.
    overrides = {}
    for name, (parameter, value_type, _choices, _description) in PARAMETER_ARGUMENTS.items():
        text = LaunchConfiguration(name).perform(context)
        if text:
            overrides[parameter] = ParameterValue(text, value_type=value_type)
    profile = LaunchConfiguration("fastdds_profile").perform(context)
    profile_set = any(os.environ.get(name) for name in PROFILE_VARIABLES)
    variable = PROFILE_VARIABLES[0] if os.environ.get("ROS_DISTRO") in FAST_DDS_2_DISTROS else PROFILE_VARIABLES[1]
    additional_env = {variable: profile} if profile and not profile_set else None
    return [LifecycleNode(
        package="motionllm_ros",
        executable="motionllm_node",
        name="motionllm",
        namespace=LaunchConfiguration("namespace"),
        parameters=[LaunchConfiguration("params_file"), overrides],
        ros_arguments=["--log-level", LaunchConfiguration("log_level")],
        additional_env=additional_env,
        output="screen",
    )]
