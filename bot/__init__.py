"""WeCom SCRM assistant for securities brokerages: the deployable service."""
