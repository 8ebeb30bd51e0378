"""Replays a rosbag2 recording through the `motionllm` node on simulated time, optionally recording its output.

    ros2 launch motionllm_ros bag_replay.launch.py bag:=/data/walk.mcap image_topic:=/camera/image_raw record:=true

`ros2 bag play <bag> --clock` publishes /clock and the node runs with use_sim_time, so its timers and latencies
follow the recording. The node takes data time from the image stamps in any case. With record:=true,
`ros2 bag record` stores the node's <namespace>/motionllm/behavior and /diagnostics.

Only APIs present in both Humble and Jazzy are used.
"""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument("bag", description="rosbag2 recording to play, as ros2 bag play takes it."),
        DeclareLaunchArgument("rate", default_value="1.0", description="Playback rate (1.0 = recorded speed)."),
        DeclareLaunchArgument(
            "delay", default_value="2.0",
            description="Seconds (> 0) ros2 bag play waits before the first message, so that the node is active "
                        "by then."),
        DeclareLaunchArgument("image_topic", default_value="",
                              description="Image topic in the bag. Empty: input.image_topic of params_file."),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace of the node."),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare("motionllm_ros"), "config", "motionllm.yaml"]),
            description="ROS 2 parameter file of the node."),
        DeclareLaunchArgument("record", default_value="false", choices=["true", "false", "True", "False"],
                              description="Also record the node's behavior topic and /diagnostics."),
        DeclareLaunchArgument(
            "record_path", default_value="",
            description="Folder ros2 bag record creates (must not exist yet). Empty: its default, rosbag2_<date>."),
        # The bag path goes before --clock: --clock takes an optional rate and would swallow a path after it.
        ExecuteProcess(
            cmd=["ros2", "bag", "play", LaunchConfiguration("bag"), "--clock",
                 "--rate", LaunchConfiguration("rate"), "--delay", LaunchConfiguration("delay")],
            output="screen"),
        IncludeLaunchDescription(
            # The sibling file, so that this works from the source tree as well as installed.
            PythonLaunchDescriptionSource(str(Path(__file__).with_name("motionllm.launch.py"))),
            launch_arguments={
                "namespace": LaunchConfiguration("namespace"),
                "params_file": LaunchConfiguration("params_file"),
                "image_topic": LaunchConfiguration("image_topic"),
                "use_sim_time": "true",
            }.items()),
        OpaqueFunction(function=_recorder),
    ])


def _recorder(context) -> list:
    # An OpaqueFunction because -o is passed only when record_path is given.
    if LaunchConfiguration("record").perform(context).lower() != "true":
        return []
    namespace = LaunchConfiguration("namespace").perform(context).strip("/")
    behavior = f"/{namespace}/motionllm/behavior" if namespace else "/motionllm/behavior"
    path = LaunchConfiguration("record_path").perform(context)
    return [ExecuteProcess(cmd=["ros2", "bag", "record", *(["-o", path] if path else []), behavior, "/diagnostics"],
                           output="screen")]
