"""A dependency that reads the project's settings when imported (as many Django apps do): never parked."""

import config

GREETING = config.GREETING
