"""Test support shared by every service's tests: real Kafka and PostgreSQL, isolated per test."""
