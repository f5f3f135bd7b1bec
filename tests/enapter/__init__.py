"""Tests of the Enapter vendor package."""
