"""Driving real TCP stacks: recording scenarios and random campaigns, namespaces, observers."""
