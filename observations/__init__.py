"""Targets, FITS frames, cutouts, photometry and light curves."""
