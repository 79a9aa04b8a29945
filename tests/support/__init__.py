"""Helpers shared by the test tiers: DICOM factories, free ports, running peers."""
