"""Citizen science: projects, decision-tree workflows, subjects, classifications and aggregation."""
