"""Fixtures of the end-to-end tests, registered here so that tests need not import them: a
mosquitto broker per test (mqtt_broker.py) and the virtual device on a pseudo-terminal
(_support/deploy.py)."""
from _support.deploy import vconsole  # noqa: F401  (fixture)
from mqtt_broker import mqtt_broker  # noqa: F401  (fixture)
