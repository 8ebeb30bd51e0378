"""launch_ros test double."""
