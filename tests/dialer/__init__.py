"""Tests of the console backend: dispositions, callbacks, call actions, my day."""
