"""Semesters, proposals, observation requests, visibility, the scheduler and telescope queues."""
