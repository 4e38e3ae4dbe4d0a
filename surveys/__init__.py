"""Surveys: questionnaires, agent call scripts, SMS surveys and their answers."""
