"""Inventories: native YAML and Ansible (INI and YAML), limits and credentials."""
