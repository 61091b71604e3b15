"""The notification service: the right person hears of the right step, once."""
