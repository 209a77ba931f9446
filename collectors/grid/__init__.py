"""Grid telemetry over MQTT (issue #4): topics and limits are data (``collectors/grid.yaml``)."""
