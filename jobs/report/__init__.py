"""The monthly risk report: one self-contained HTML file (plots embedded), from the gold tables."""
