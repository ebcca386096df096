"""Test helpers: real peers (Samba) and fault injectors for integration tests."""
