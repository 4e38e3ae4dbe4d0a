"""Dialer: click-to-dial, preview/progressive/predictive dialing, pacing, callbacks."""
