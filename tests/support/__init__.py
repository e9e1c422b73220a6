"""Helpers shared by the test tiers: a live `lambdad server`, clients, zips, PostgreSQL."""
