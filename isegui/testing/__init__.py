"""Helpers for isegui's own tests and benchmarks, not for the product: a private PostgreSQL
server (pg_server) that the team-store tests and bench/team_load.py start and remove."""
