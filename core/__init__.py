"""The ground layer: what every other package of Aftershock may import, and which imports none of them.

Errors (one tree), the settings object, polling helpers, process helpers and the records that cross
packages live here, so that the layers above never need to reach up or sideways for them.
"""
