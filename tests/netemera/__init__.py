"""Tests of the Netemera LoRaWAN vendor."""
