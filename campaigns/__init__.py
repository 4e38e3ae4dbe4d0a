"""Campaigns: call lists, segmentation, mass activities and response tracking."""
