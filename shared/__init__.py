"""The small library every service uses: events, store, relay, bus, settings, logging."""
