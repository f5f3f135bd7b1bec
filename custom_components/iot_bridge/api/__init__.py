"""Vendor protocol clients. Nothing here imports Home Assistant."""
