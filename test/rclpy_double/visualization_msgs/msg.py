"""visualization_msgs/msg from the rosbags Humble typestore, with rclpy-like behaviour (see double_messages)."""

from double_messages import classes_of

globals().update(classes_of("visualization_msgs/msg"))
